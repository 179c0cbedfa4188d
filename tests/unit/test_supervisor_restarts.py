"""Once the stack is up, a crashed process is started again with growing backoff, the watch
never raises for it, and its fresh state files are its own.

The supervisor runs real child processes; its clock is a hand-moved one, so the backoff is
checked exactly and no test sleeps through it.
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import pytest

from stack.backoff import Backoff
from stack.supervisor import Probe, Running, Service, Supervisor

pytestmark = pytest.mark.unit

SLEEPER = [sys.executable, "-c", "import time; time.sleep(600)"]


class HandClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> HandClock:
    return HandClock()


@pytest.fixture
def supervisor(tmp_path: Path, clock: HandClock) -> Supervisor:
    return Supervisor(cwd=tmp_path, clock=clock)


def started(
    supervisor: Supervisor,
    tmp_path: Path,
    *,
    ready: Probe = lambda _pid: True,
    start_timeout_s: float = 60.0,
    own_files: tuple[Path, ...] = (),
) -> Running:
    service = Service(
        name="api",
        argv=SLEEPER,
        log=tmp_path / "api.log",
        ready=ready,
        start_timeout_s=start_timeout_s,
        own_files=own_files,
    )
    supervisor.start(service)
    return supervisor.running[-1]


def crash(entry: Running) -> None:
    """What the OOM killer does: SIGKILL, then the supervisor's next check sees it gone."""
    os.kill(entry.process.pid, signal.SIGKILL)
    entry.process.wait()


def test_backoff_doubles_up_to_its_ceiling_and_starts_over_after_a_good_run() -> None:
    backoff = Backoff(first_s=1, factor=2, max_s=60, stable_s=60)
    assert [backoff.delay_s(n) for n in range(1, 9)] == [1, 2, 4, 8, 16, 32, 60, 60]
    assert backoff.crashes_in_a_row(before=5, ran_s=3) == 6
    assert backoff.crashes_in_a_row(before=5, ran_s=61) == 1


def test_a_crashed_process_is_started_again_after_its_backoff(
    supervisor: Supervisor, tmp_path: Path, clock: HandClock
) -> None:
    entry = started(supervisor, tmp_path)
    first_pid = entry.process.pid
    try:
        crash(entry)
        (event,) = supervisor.check()
        assert "api stopped unexpectedly (code -9)" in event and "again in 1s" in event
        clock.now += 0.5
        assert supervisor.check() == []  # still waiting
        clock.now += 0.5
        (event,) = supervisor.check()
        assert event.startswith("starting api again")
        assert entry.process.pid != first_pid and entry.process.poll() is None
        assert entry.restarts == 1 and not entry.healthy
        assert supervisor.check() == [f"api is healthy again (pid {entry.process.pid})"]
    finally:
        supervisor.stop_all(grace_s=1)


def test_a_crash_loop_waits_longer_each_time_and_never_raises(
    supervisor: Supervisor, tmp_path: Path, clock: HandClock
) -> None:
    entry = started(supervisor, tmp_path)
    waits = []
    try:
        for _ in range(4):
            crash(entry)
            supervisor.check()
            assert entry.restart_at is not None
            waits.append(entry.restart_at - clock.now)
            clock.now = entry.restart_at
            supervisor.check()  # started again
        assert waits == [1, 2, 4, 8]
        clock.now += 120  # a good run: the next crash counts as the first
        supervisor.check()
        crash(entry)
        (event,) = supervisor.check()
        assert "again in 1s (crash 1 in a row" in event
    finally:
        supervisor.stop_all(grace_s=1)


def test_a_process_that_is_not_healthy_after_a_restart_is_stopped_and_started_again(
    supervisor: Supervisor, tmp_path: Path, clock: HandClock
) -> None:
    healthy = [True]
    entry = started(supervisor, tmp_path, ready=lambda _pid: healthy[0], start_timeout_s=30)
    try:
        crash(entry)
        supervisor.check()
        clock.now += 1
        supervisor.check()  # started again, hangs: never healthy
        healthy[0] = False
        clock.now += 31
        (event,) = supervisor.check()
        assert "api not healthy 30s after its start" in event
        assert entry.process.poll() is not None
        (event,) = supervisor.check()
        assert "stopped unexpectedly" in event and "crash 2 in a row" in event
    finally:
        supervisor.stop_all(grace_s=1)


def test_own_files_are_removed_before_each_start(
    supervisor: Supervisor, tmp_path: Path, clock: HandClock
) -> None:
    heartbeat = tmp_path / "dispatcher.alive"
    heartbeat.write_text("left by an earlier run")
    entry = started(supervisor, tmp_path, own_files=(heartbeat,))
    try:
        assert not heartbeat.exists()
        heartbeat.write_text("left by the process that crashed")
        crash(entry)
        supervisor.check()
        clock.now += 1
        supervisor.check()
        assert not heartbeat.exists()
    finally:
        supervisor.stop_all(grace_s=1)


def test_stop_all_stops_what_runs_and_skips_what_waits_for_a_restart(
    supervisor: Supervisor, tmp_path: Path
) -> None:
    waiting = started(supervisor, tmp_path)
    live = Service(name="worker-1", argv=SLEEPER, log=tmp_path / "w.log", ready=lambda _pid: True)
    supervisor.start(live)
    running = supervisor.running[-1].process
    crash(waiting)
    supervisor.check()
    supervisor.stop_all(grace_s=1)
    assert running.poll() is not None
    assert supervisor.running == []
