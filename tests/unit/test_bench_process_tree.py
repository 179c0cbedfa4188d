"""The capacity benchmark puts each process of a stack in the right part: a worker's
forkserver children are call processes, except the one its log names as the inference
process; the forkserver itself counts with the worker's main process."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from bench.process_tree import CALLS, INFERENCE, WORKER, Classifier, PartSampler
from stack.state import ServiceState, StackState, write_state

pytestmark = pytest.mark.unit

# A stand-in for `worker.main start`: a forkserver with three children, the first logged the
# way livekit-agents logs its inference process.
FAKE_WORKER = """
import json, multiprocessing, sys, time

if __name__ == "__main__":
    ctx = multiprocessing.get_context("forkserver")
    children = [ctx.Process(target=time.sleep, args=(60,)) for _ in range(3)]
    for child in children:
        child.start()
    line = {"message": "initializing process", "pid": children[0].pid, "inference": True}
    with open(sys.argv[1], "w") as log:
        log.write(json.dumps(line) + "\\n")
    print(" ".join(str(c.pid) for c in children), flush=True)
    time.sleep(60)
"""


@pytest.fixture
def stack_dir(tmp_path: Path) -> Iterator[tuple[Path, list[int], int, int]]:
    (tmp_path / "logs").mkdir()
    script = tmp_path / "fake_worker.py"
    script.write_text(FAKE_WORKER)
    worker = subprocess.Popen(
        [sys.executable, str(script), str(tmp_path / "logs" / "worker-1.log")],
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
        yield tmp_path, children, worker.pid, api.pid
    finally:
        for proc in (worker, api):
            for child in psutil.Process(proc.pid).children(recursive=True):
                child.kill()
            proc.kill()
            proc.wait()


def test_each_process_lands_in_its_part(stack_dir: tuple[Path, list[int], int, int]) -> None:
    run_dir, (inference, *calls), worker, api = stack_dir
    parts = Classifier(run_dir).parts()
    assert parts[inference] == INFERENCE
    assert [parts[pid] for pid in calls] == [CALLS, CALLS]
    assert parts[api] == "api"
    helpers = psutil.Process(worker).children()  # the forkserver and the resource tracker
    assert helpers
    assert all(parts[p.pid] == WORKER for p in helpers)
    assert parts[worker] == WORKER


def test_a_sample_counts_the_call_processes(stack_dir: tuple[Path, list[int], int, int]) -> None:
    run_dir, *_ = stack_dir
    sample = PartSampler(run_dir).sample()
    assert sample.call_processes == 2
    assert sample.pss[CALLS] > 0
    assert sample.pss[INFERENCE] > 0


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
