"""The capacity benchmark puts each process of a stack in the right part: a worker's
forkserver children are call processes, except the one its log names as the inference
process; the forkserver itself counts with the worker's main process."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from bench import process_tree
from bench.process_tree import BENCH, CALLS, INFERENCE, WORKER, Classifier, PartSampler, run_delay_s
from stack.state import ServiceState, StackState, write_state

pytestmark = pytest.mark.unit

# A stand-in for `worker.main start`: a forkserver with three children, the first logged the
# way livekit-agents logs its inference process; once told to (a line on its stdin) it forks a
# fourth, which uses 0.3 s of CPU as it starts, like a call process the pool adds.
FAKE_WORKER = """
import json, multiprocessing, sys, time

def start_up():
    began = time.process_time()
    while time.process_time() - began < 0.3:
        pass
    time.sleep(60)

if __name__ == "__main__":
    ctx = multiprocessing.get_context("forkserver")
    children = [ctx.Process(target=time.sleep, args=(60,)) for _ in range(3)]
    for child in children:
        child.start()
    line = {"message": "initializing process", "pid": children[0].pid, "inference": True}
    with open(sys.argv[1], "w") as log:
        log.write(json.dumps(line) + "\\n")
    print(" ".join(str(c.pid) for c in children), flush=True)
    sys.stdin.readline()
    late = ctx.Process(target=start_up)
    late.start()
    print(late.pid, flush=True)
    time.sleep(60)
"""


@pytest.fixture
def stack_dir(tmp_path: Path) -> Iterator[tuple[Path, list[int], subprocess.Popen[str], int]]:
    (tmp_path / "logs").mkdir()
    script = tmp_path / "fake_worker.py"
    script.write_text(FAKE_WORKER)
    worker = subprocess.Popen(
        [sys.executable, str(script), str(tmp_path / "logs" / "worker-1.log")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    api = subprocess.Popen(["sleep", "60"])
    try:
        assert worker.stdout is not None
        children = [int(pid) for pid in worker.stdout.readline().split()]
        services = [
            ServiceState(name="api", pid=api.pid, address="-", log="-"),
            ServiceState(name="worker-1", pid=worker.pid, address="-", log="-"),
        ]
        addresses = {  # the addresses and URLs play no part here
            name: "-"
            for name, field in StackState.model_fields.items()
            if field.is_required() and field.annotation in (str, "str")
        }
        state = StackState(pid=psutil.Process().pid, dev_keys=True, services=services, **addresses)
        write_state(tmp_path, state)
        yield tmp_path, children, worker, api.pid
    finally:
        for proc in (worker, api):
            for child in psutil.Process(proc.pid).children(recursive=True):
                child.kill()
            proc.kill()
            proc.wait()


def test_each_process_lands_in_its_part(
    stack_dir: tuple[Path, list[int], subprocess.Popen[str], int],
) -> None:
    run_dir, (inference, *calls), worker, api = stack_dir
    parts = Classifier(run_dir).parts()
    assert parts[inference] == INFERENCE
    assert [parts[pid] for pid in calls] == [CALLS, CALLS]
    assert parts[api] == "api"
    helpers = psutil.Process(worker.pid).children()  # the forkserver and the resource tracker
    assert helpers
    assert all(parts[p.pid] == WORKER for p in helpers)
    assert parts[worker.pid] == WORKER


def test_a_sample_counts_the_call_processes(
    stack_dir: tuple[Path, list[int], subprocess.Popen[str], int],
) -> None:
    run_dir, *_ = stack_dir
    sample = PartSampler(run_dir).sample()
    assert sample.call_processes == 2
    assert sample.pss[CALLS] > 0
    assert sample.pss[INFERENCE] > 0


def test_a_call_process_forked_between_samples_is_charged_its_start_up(
    stack_dir: tuple[Path, list[int], subprocess.Popen[str], int],
) -> None:
    run_dir, _, worker, _ = stack_dir
    sampler = PartSampler(run_dir)
    began = time.time()
    sampler.sample()  # the processes already running, primed
    assert worker.stdin is not None and worker.stdout is not None
    worker.stdin.write("fork\n")
    worker.stdin.flush()
    late = psutil.Process(int(worker.stdout.readline()))
    while sum(late.cpu_times()[:2]) < 0.3:  # its start-up done
        time.sleep(0.05)
    sample = sampler.sample()
    window = time.time() - began  # the sampler's interval is within it
    assert sample.call_processes == 3
    # 0.3 s of CPU as a share of the interval: at least 0.3 s over the longest it can be
    assert sample.call_cpu[late.pid] >= 100 * 0.3 / window
    assert sample.cpu[CALLS] >= sample.call_cpu[late.pid]


def test_waits_are_read_only_when_asked_for(
    stack_dir: tuple[Path, list[int], subprocess.Popen[str], int],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    run_dir, *_ = stack_dir

    def unread(pid: int) -> float:
        raise AssertionError("run_delay read without --cpu-waits")

    monkeypatch.setattr(process_tree, "run_delay_s", unread)
    sampler = PartSampler(run_dir)
    sampler.sample()
    assert not any(sampler.sample().wait.values())


def test_each_process_s_wait_is_its_run_delay_over_the_interval_even_past_a_new_one(
    stack_dir: tuple[Path, list[int], subprocess.Popen[str], int],
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
) -> None:
    """Every process, read before or after one the pool forked since the last sample, is
    charged its own run_delay growth over the same interval."""
    run_dir, (inference, *calls), worker, api = stack_dir
    reads: dict[int, int] = {}
    phone = subprocess.Popen(["sleep", "60"])  # the bench's part: classified after the worker's
    request.addfinalizer(phone.kill)
    watched = {api, inference, *calls, phone.pid}  # other processes of this run read 0

    def growing(pid: int) -> float:  # each read of a process: 0.5 s more queued than the last
        if pid not in watched:
            return 0.0
        reads[pid] = reads.get(pid, 0) + 1
        return 0.5 * reads[pid]

    monkeypatch.setattr(process_tree, "run_delay_s", growing)
    sampler = PartSampler(run_dir, waits=True)
    sampler.sample()
    began = time.time()
    assert worker.stdin is not None and worker.stdout is not None
    worker.stdin.write("fork\n")
    worker.stdin.flush()
    late = int(worker.stdout.readline())
    watched.add(late)
    time.sleep(0.5)
    sample = sampler.sample()
    interval = time.time() - began
    # the api and the inference process: 0.5 s queued each, as a share of the interval
    assert sample.wait["api"] == pytest.approx(100 * 0.5 / interval, rel=0.5)
    assert sample.wait[INFERENCE] == pytest.approx(100 * 0.5 / interval, rel=0.5)
    # the call processes: two known (0.5 s each) and the new one (all 0.5 s it read)
    assert sample.wait[CALLS] == pytest.approx(100 * 1.5 / interval, rel=0.5)
    assert late in sample.call_cpu
    # read after the new one: a child of this test, the bench's part
    assert sample.wait[BENCH] == pytest.approx(100 * 0.5 / interval, rel=0.5)


def test_the_profiled_call_process_is_one_in_a_call() -> None:
    """A call process in a call holds its room's UDP media socket; a warm one waiting for a
    job holds none, however busy it was while starting."""
    from bench.capacity import in_a_call

    holding = "import socket, time; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); "
    holding += "s.bind(('127.0.0.1', 0)); print(flush=True); time.sleep(30)"
    waiting = "import time; print(flush=True); time.sleep(30)"
    procs = [
        subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
        for code in (holding, waiting)
    ]
    try:
        for proc in procs:
            assert proc.stdout is not None
            proc.stdout.readline()  # its socket (or none) is set up
        assert [in_a_call(proc.pid) for proc in procs] == [True, False]
    finally:
        for proc in procs:
            proc.kill()
            proc.wait()


def test_two_busy_processes_on_one_core_each_wait_for_it() -> None:
    """`run_delay_s` reads the kernel's count: two spinning processes sharing one core each
    queue about half the time; a process gone reads 0."""
    spin = [sys.executable, "-c", "while True: pass"]
    busy = [subprocess.Popen(spin) for _ in range(2)]
    try:
        for proc in busy:
            os.sched_setaffinity(proc.pid, {min(os.sched_getaffinity(0))})
        before = [run_delay_s(p.pid) for p in busy]
        time.sleep(1.5)
        queued = [run_delay_s(p.pid) - b for p, b in zip(busy, before, strict=True)]
    finally:
        for proc in busy:
            proc.kill()
            proc.wait()
    assert sum(queued) > 0.6, queued  # ~1.5 s between them, on a quiet box
    assert run_delay_s(busy[0].pid) == 0.0
