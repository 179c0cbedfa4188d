"""CPU and memory of each part of a running stack, sampled once a second.

A total over the stack's process tree says that a call is expensive, not where. This sampler
puts every process of the tree in one part: the services `start.py` lists in its state file
(`stack.json`: Redis (both), livekit-server, livekit-sip, the API, the dispatcher, each worker), and
inside a worker its main process (with its forkserver and resource tracker), its inference
process (the one livekit-agents starts for shared models; the worker's log names its pid) and
its call processes (every other child of the forkserver, warm or in a call). The benchmark's
own process and its phones are a part too: they share the box with the stack. A process
that starts between two samples (a call process the pool forks) is charged all the CPU it used
since it started; until 2026-12-07 its start-up before its first sample went uncounted.

Each part's wait for a CPU is the kernel's own count (`/proc/<pid>/task/<tid>/schedstat`, its
second field: the time each thread was runnable and not running), summed over the part's
threads: on a box whose cores are all busy, the time work was ready and queued. A thread that
ended between two samples takes its count with it.

PSS (proportional set size) splits each shared page among the processes that map it, so a
call process forked from the preloaded forkserver is charged only its share of the modules
they all hold, and the parts add up to the box's memory.
"""

from __future__ import annotations

import os
import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from stack.state import read_state

SAMPLE_S = 1.0
CALLS = "call processes"
INFERENCE = "inference process"
WORKER = "worker main"
BENCH = "bench + phones"
OTHER = "other services"
PARTS = (
    "livekit-sip",
    "livekit-server",
    WORKER,
    INFERENCE,
    CALLS,
    "redis",
    "livekit-redis",
    "api",
    "dispatcher",
    "start.py",
    BENCH,
)
LABELS = {  # short column names for the tables
    "livekit-sip": "sip",
    "livekit-server": "server",
    WORKER: "worker",
    INFERENCE: "infer",
    CALLS: "calls",
    "redis": "redis",
    "livekit-redis": "lk-redis",
    "api": "api",
    "dispatcher": "disp",
    "start.py": "start",
    OTHER: "other",
    BENCH: "bench",
}
INFERENCE_PID = re.compile(r'"pid": (\d+), "inference": true')


@dataclass
class Sample:
    cpu: dict[str, float]  # part -> % of one core since the previous sample
    pss: dict[str, float]  # part -> MB
    call_cpu: dict[int, float]  # call process pid -> % of one core
    call_processes: int
    wait: dict[str, float] = field(default_factory=dict)  # part -> % of one core queued


@dataclass
class Window:
    """Samples over a stretch of time (idle before a round, or the round itself)."""

    samples: list[Sample] = field(default_factory=list)

    def cpu(self, part: str) -> float:
        """Mean % of one core."""
        values = [s.cpu.get(part, 0.0) for s in self.samples]
        return sum(values) / len(values) if values else 0.0

    def wait(self, part: str) -> float:
        """Mean % of one core that the part's threads spent runnable, waiting for a CPU."""
        values = [s.wait.get(part, 0.0) for s in self.samples]
        return sum(values) / len(values) if values else 0.0

    def pss(self, part: str) -> float:
        """Peak MB."""
        return max((s.pss.get(part, 0.0) for s in self.samples), default=0.0)

    def mean_pss(self, part: str) -> float:
        values = [s.pss.get(part, 0.0) for s in self.samples]
        return sum(values) / len(values) if values else 0.0

    def stack_cpu(self) -> float:
        return sum(self.cpu(p) for p in PARTS if p != BENCH)

    def stack_pss(self) -> float:
        """Peak of the stack's total (not the sum of each part's peak)."""
        return max(
            (sum(v for p, v in s.pss.items() if p != BENCH) for s in self.samples), default=0.0
        )

    def call_processes(self) -> int:
        return max((s.call_processes for s in self.samples), default=0)


class Classifier:
    """Which part each process of the stack belongs to."""

    def __init__(self, run_dir: Path) -> None:
        self._run_dir = run_dir
        self._log_offsets: dict[Path, int] = {}
        self._inference: set[int] = set()

    def parts(self) -> dict[int, str]:
        state = read_state(self._run_dir)
        if state is None:
            return {}
        parts = {state.pid: "start.py"}
        for service in state.services:
            if service.name.startswith("worker"):
                self._read_inference_pids(self._run_dir / "logs" / f"{service.name}.log")
                parts |= self._worker(service.pid)
            else:
                part = service.name if service.name in PARTS else OTHER
                parts |= dict.fromkeys(_tree(service.pid), part)
        bench = os.getpid()
        parts |= {pid: BENCH for pid in _tree(bench) if pid not in parts}
        return parts

    def _worker(self, main_pid: int) -> dict[int, str]:
        parts = dict.fromkeys(_tree(main_pid), WORKER)
        for forkserver in _children(main_pid):
            if not _is_forkserver(forkserver):
                continue
            for child in _children(forkserver.pid):
                part = INFERENCE if child.pid in self._inference else CALLS
                parts |= dict.fromkeys(_tree(child.pid), part)
        return parts

    def _read_inference_pids(self, log: Path) -> None:
        """livekit-agents logs `"inference": true` beside the pid of its inference process."""
        try:
            with log.open(errors="replace") as file:
                file.seek(self._log_offsets.get(log, 0))
                text = file.read()
                self._log_offsets[log] = file.tell()
        except OSError:
            return
        self._inference |= {int(pid) for pid in INFERENCE_PID.findall(text)}


class PartSampler:
    """Samples every part in a background thread while it is entered."""

    def __init__(self, run_dir: Path, *, waits: bool = False) -> None:
        self._classifier = Classifier(run_dir)
        self._waits = waits  # read every thread's run_delay too (`run_delay_s`)
        self._procs: dict[int, psutil.Process] = {}
        self._queued: dict[int, float] = {}  # pid -> its threads' run_delay at the last sample
        self._sampled_at: float | None = None  # None: the next sample is the first, priming
        self.window = Window()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def sample(self) -> Sample:
        cpu = dict.fromkeys(PARTS, 0.0)
        pss = dict.fromkeys(PARTS, 0.0)
        wait = dict.fromkeys(PARTS, 0.0)
        call_cpu: dict[int, float] = {}
        alive: dict[int, psutil.Process] = {}
        queued: dict[int, float] = {}
        now = time.time()
        interval = None if self._sampled_at is None else now - self._sampled_at
        for pid, part in self._classifier.parts().items():
            proc = self._procs.get(pid)
            try:
                if proc is None:  # not in the previous sample: started since, unless priming
                    proc = psutil.Process(pid)
                    proc.cpu_percent(None)  # primes the next sample's reading
                    since = self._sampled_at
                    used = 0.0 if since is None else _since_start(proc, now - since)
                else:
                    used = proc.cpu_percent(None)  # since this process' previous sample
                pss[part] += proc.memory_full_info().pss / 2**20
            except psutil.Error:
                continue
            alive[pid] = proc
            cpu[part] += used
            if part == CALLS:
                call_cpu[pid] = used
            if self._waits:
                queued[pid] = run_delay_s(pid)
                if interval:  # a process new since the last sample: all it queued since it began
                    waited = max(0.0, queued[pid] - self._queued.get(pid, 0.0))
                    wait[part] += 100 * waited / interval
        self._procs, self._queued = alive, queued
        self._sampled_at = now
        return Sample(cpu=cpu, pss=pss, call_cpu=call_cpu, call_processes=len(call_cpu), wait=wait)

    def latest(self) -> Sample | None:
        return self.window.samples[-1] if self.window.samples else None

    def __enter__(self) -> PartSampler:
        self.sample()  # primes cpu_percent
        self.window = Window()
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(SAMPLE_S):
            self.window.samples.append(self.sample())

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        if not self.window.samples:
            self.window.samples.append(self.sample())


def _since_start(proc: psutil.Process, interval_s: float) -> float:
    """A process that started since the previous sample (a call process the pool forked):
    the CPU it used since it started, as a share of the interval. Its start-up is a cost of
    the calls, which `cpu_percent`'s first, priming call would drop."""
    times = proc.cpu_times()
    return 100 * (times.user + times.system) / interval_s if interval_s > 0 else 0.0


def run_delay_s(pid: int) -> float:
    """Seconds the threads of `pid` now alive spent runnable, waiting for a CPU (0 if gone)."""
    total = 0
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return 0.0
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat") as stat:
                total += int(stat.read().split()[1])
        except (OSError, IndexError, ValueError):
            continue  # the thread ended while read
    return total / 1e9


def _children(pid: int) -> list[psutil.Process]:
    try:
        return psutil.Process(pid).children()
    except psutil.Error:
        return []


def _tree(pid: int) -> list[int]:
    try:
        root = psutil.Process(pid)
        return [pid, *(p.pid for p in root.children(recursive=True))]
    except psutil.Error:
        return []


def _is_forkserver(proc: psutil.Process) -> bool:
    try:
        return "multiprocessing.forkserver" in " ".join(proc.cmdline())
    except psutil.Error:
        return False
