"""The supervisor: health waits, clear start-up failures, restarts with backoff, and stopping
whole process groups."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import psutil
import pytest

from stack.ports import busy_ports, pick_free_ports
from stack.supervisor import Service, StartError, Supervisor


def python(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def test_a_child_that_dies_at_start_up_is_reported_with_its_last_log_line(tmp_path: Path) -> None:
    service = Service(
        name="broken",
        argv=python("import sys; print('listen: address already in use'); sys.exit(3)"),
        log=tmp_path / "broken.log",
        ready=lambda _pid: False,
    )
    with pytest.raises(StartError, match=r"broken exited during start-up \(code 3\): listen: addr"):
        Supervisor(cwd=tmp_path).start(service)


def test_a_child_never_healthy_times_out(tmp_path: Path) -> None:
    service = Service(
        name="slow",
        argv=python("import time; time.sleep(30)"),
        log=tmp_path / "slow.log",
        ready=lambda _pid: False,
        start_timeout_s=0.5,
    )
    supervisor = Supervisor(cwd=tmp_path)
    with pytest.raises(StartError, match="slow not healthy after 0s"):
        supervisor.start(service)
    supervisor.stop_all(grace_s=1)


def test_stop_all_kills_grandchildren_too(tmp_path: Path) -> None:
    # The child forks a grandchild that ignores SIGTERM, like a call process still draining.
    code = (
        "import os, signal, time\n"
        "if os.fork() == 0:\n"
        "    signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(60)\n"
        "time.sleep(60)\n"
    )
    supervisor = Supervisor(cwd=tmp_path)
    supervisor.start(
        Service(name="forker", argv=python(code), log=tmp_path / "f.log", ready=lambda _pid: True)
    )
    time.sleep(0.3)
    tree = psutil.Process(supervisor.running[0].process.pid).children(recursive=True)
    assert tree, "the grandchild should exist"
    supervisor.stop_all(grace_s=1)
    _, alive = psutil.wait_procs(tree, timeout=5)
    assert not alive


def test_free_ports_are_distinct_and_free() -> None:
    ports = pick_free_ports(3)
    singles = list(ports.single_ports(3).values())
    media = [
        *range(ports.sip_rtp.start, ports.sip_rtp.end + 1),
        *range(ports.livekit_rtc_udp.start, ports.livekit_rtc_udp.end + 1),
    ]
    assert len(set(singles + media)) == len(singles) + len(media)
    assert busy_ports(ports, 3) == {}


def test_replicas_are_stopped_together_so_their_drains_overlap(tmp_path: Path) -> None:
    # Each replica notes when SIGTERM reached it and then ignores it, like a draining worker.
    code = (
        "import signal, sys, time\n"
        "def noted(*_):\n"
        "    open(sys.argv[1], 'w').write(str(time.monotonic()))\n"
        "signal.signal(signal.SIGTERM, noted)\n"
        "while True: time.sleep(0.1)\n"
    )
    supervisor = Supervisor(cwd=tmp_path)
    for name in ("worker-1", "worker-2"):
        argv = [*python(code), str(tmp_path / f"{name}.term")]
        log = tmp_path / f"{name}.log"
        supervisor.start(Service(name=name, argv=argv, log=log, ready=lambda _pid: True, group="w"))
    time.sleep(0.3)
    supervisor.stop_all(grace_s=3)
    first, second = (float((tmp_path / f"worker-{i}.term").read_text()) for i in (1, 2))
    # One after the other, the second would get SIGTERM only after the first's 3 s grace.
    assert abs(first - second) < 1.5
