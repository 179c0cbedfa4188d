"""Capacity benchmark: how many simultaneous calls one box sustains.

Starts one real stack (`start.py up --dev --auto-ports`, one worker that takes every call),
then places rounds of simultaneous calls: 1 (three rounds, the baseline), then 2, 3, 4, ...
(two rounds each). Each call is the `first_call` dialogue: greeting, the caller says "Tuesday"
7 s after media starts, the reply. It stops at the first level where a call fails (not
answered, no greeting, no reply, ...). It prints two capacities: the most simultaneous calls
whose voice-to-voice reply p95 stays within 20 % of a single call's, and the most without a
failed call. It prints numbers; it never asserts.

    .venv/bin/python -m bench.capacity                 # the offline demo persona
    .venv/bin/python -m bench.capacity --cloud         # speech and LLM behind local fakes

`--cloud` runs a persona whose STT (OpenAI), LLM (OpenAI) and TTS (Azure) are the real
plugins pointed at `tests/support/cloud_fakes.py` in this process, answering after
`--cloud-latency` seconds: in production speech and language run off the box, so the box only
carries media, VAD and the agent loop. CPU and memory are those of the stack's process tree
(start.py and everything it started: redis, livekit-server, livekit-sip, api, dispatcher,
worker, call processes), sampled with psutil; the fakes are not part of it.
"""

from __future__ import annotations

import json
import os
import threading
import time
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Annotated

import numpy as np
import psutil
import typer
from rich.console import Console
from rich.table import Table

from bench.first_call import CALLER_LINE, CallTiming, measure, speech_span, summary
from dialroom.paths import ROOT
from tests.support.cloud_fakes import FakeCloud
from tests.support.cloud_persona import CLOUD_PERSONA, cloud_persona
from tests.support.phone import PhoneError, start_dialing
from tests.support.stack import RunningStack, start_stack

PLAY_AT_S = 7.0  # the caller speaks this long after media starts (the greeting is over)
HANG_UP_S = 25.0  # the phone's own hang-up; the demo persona hangs up before
SAMPLE_S = 1.0
STOP_TIMEOUT_S = 180.0  # the worker drains first (WORKER_DRAIN_S, 60 s by default)
P95_GROWTH = 1.2  # a level whose reply p95 is above this times the baseline's is over capacity
GIVE_UP = 3.0  # a level this much slower ends the run even without a failed call
CLOUD_REPLY = "Great, I have you down for Tuesday. Thank you for calling, goodbye!"

console = Console()
app = typer.Typer(add_completion=False)


@dataclass(kw_only=True)
class Round:
    calls: int
    timings: list[CallTiming]
    cpu_percent: float  # the stack's process tree, mean over the round (100 = one core)
    idle_cpu_percent: float  # the same, just before the round
    pss_mb: float  # peak over the round
    idle_pss_mb: float
    failures: list[str] = field(default_factory=list)


@dataclass(kw_only=True)
class Level:
    """All rounds of one number of simultaneous calls."""

    calls: int
    rounds: list[Round]

    @property
    def timings(self) -> list[CallTiming]:
        return [t for r in self.rounds for t in r.timings]

    @property
    def replies(self) -> list[float]:
        return [t.reply_s for t in self.timings if t.failure is None and t.reply_s is not None]

    @property
    def reply_p95(self) -> float | None:
        return float(np.percentile(self.replies, 95)) if self.replies else None

    @property
    def failures(self) -> list[str]:
        return [f for r in self.rounds for f in r.failures]

    def per_call(self) -> tuple[float, float, float, float]:
        """Mean CPU % and peak PSS MB of the tree, and both per call above idle."""
        cpu = float(np.mean([r.cpu_percent for r in self.rounds]))
        idle_cpu = float(np.mean([r.idle_cpu_percent for r in self.rounds]))
        pss = max(r.pss_mb for r in self.rounds)
        idle_pss = float(np.mean([r.idle_pss_mb for r in self.rounds]))
        return cpu, (cpu - idle_cpu) / self.calls, pss, (pss - idle_pss) / self.calls


class TreeSampler:
    """CPU and PSS of a process and all its descendants, sampled in a background thread."""

    def __init__(self, root_pid: int) -> None:
        self._root = psutil.Process(root_pid)
        self._procs: dict[int, psutil.Process] = {}
        self.samples: list[tuple[float, float]] = []  # (cpu %, pss MB)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def sample(self) -> tuple[float, float]:
        cpu = pss = 0.0
        alive: dict[int, psutil.Process] = {}
        for proc in [self._root, *self._root.children(recursive=True)]:
            known = self._procs.get(proc.pid, proc)
            try:
                cpu += known.cpu_percent(None)  # since this process' previous sample
                pss += known.memory_full_info().pss / 2**20
            except psutil.Error:
                continue
            alive[proc.pid] = known
        self._procs = alive
        return cpu, pss

    def __enter__(self) -> TreeSampler:
        self.sample()  # primes cpu_percent
        self.samples = []
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(SAMPLE_S):
            self.samples.append(self.sample())

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()


def run_round(
    stack: RunningStack, sampler: TreeSampler, calls: int, folder: Path, *, hang_up_expected: bool
) -> Round:
    with sampler:
        time.sleep(3 * SAMPLE_S)
    idle = sampler.samples or [sampler.sample()]
    caller_span = speech_span(CALLER_LINE)
    folder.mkdir(parents=True, exist_ok=True)
    with sampler, ExitStack() as phones:
        started = [
            phones.enter_context(
                start_dialing(
                    stack.state.sip_uri,
                    result_dir=folder,
                    play=[(CALLER_LINE, PLAY_AT_S)],
                    record=folder / f"call-{i:02d}.wav",
                    hangup_after=HANG_UP_S,
                    timeout=HANG_UP_S + 20,
                )
            )
            for i in range(1, calls + 1)
        ]
        timings = []
        for index, phone in enumerate(started, start=1):
            try:
                timings.append(measure(phone.result(HANG_UP_S + 40).call, index, caller_span))
            except PhoneError as err:
                timings.append(CallTiming(call=index, failure=f"phone: {err}"))
    for timing in timings:
        if not hang_up_expected and (timing.failure or "").startswith("agent replied but"):
            timing.failure = None  # this persona never hangs up: the phone does
    busy = sampler.samples or idle
    return Round(
        calls=calls,
        timings=timings,
        cpu_percent=float(np.mean([c for c, _ in busy])),
        idle_cpu_percent=float(np.mean([c for c, _ in idle])),
        pss_mb=max(p for _, p in busy),
        idle_pss_mb=float(np.mean([p for _, p in idle])),
        failures=[f"call {t.call}: {t.failure}" for t in timings if t.failure],
    )


def verdict(level: Level, baseline_p95: float | None) -> str | None:
    """Why this level is over capacity, or None when the box sustained it."""
    if level.failures:
        return "; ".join(level.failures)
    p95 = level.reply_p95
    if baseline_p95 is not None and p95 is not None and p95 > P95_GROWTH * baseline_p95:
        return f"reply p95 {p95:.2f} s > {P95_GROWTH:.1f} x baseline {baseline_p95:.2f} s"
    return None


def report(levels: list[Level], title: str) -> None:
    table = Table(title=title)
    for column in ("calls", "ok", "reply p50", "reply p95", "greeting p95"):
        table.add_column(column, justify="right")
    for column in ("CPU (tree)", "CPU / call", "PSS peak", "PSS / call"):
        table.add_column(column, justify="right")
    for level in levels:
        ok = [t for t in level.timings if t.failure is None]
        greet = [t.greeting_s for t in ok if t.greeting_s is not None]
        reply50, reply95 = summary(level.replies)[:2]
        cpu, cpu_call, pss, pss_call = level.per_call()
        table.add_row(
            str(level.calls),
            f"{len(ok)}/{len(level.timings)}",
            reply50,
            reply95,
            summary(greet)[1],
            f"{cpu:.0f} %",
            f"{cpu_call:.0f} %",
            f"{pss:.0f} MB",
            f"{pss_call:.0f} MB",
        )
    console.print(table)


def sustained(levels: list[Level], baseline: float | None, *, p95: bool) -> int:
    """The most simultaneous calls before the first level that failed (on p95 too, if asked)."""
    most = 0
    for level in levels:
        if verdict(level, baseline if p95 else None) is not None:
            break
        most = level.calls
    return most


@app.command()
def main(
    max_calls: Annotated[int, typer.Option(min=1, help="Stop after this many at once.")] = 8,
    cloud: Annotated[bool, typer.Option(help="Speech and LLM behind local cloud fakes.")] = False,
    cloud_latency: Annotated[
        float, typer.Option(help="Seconds each fake waits before its first byte.")
    ] = 0.3,
    rounds: Annotated[int, typer.Option(min=1, help="Rounds of each number of calls.")] = 2,
    baseline_rounds: Annotated[int, typer.Option(min=1, help="Rounds of a single call.")] = 3,
    json_out: Annotated[Path | None, typer.Option("--json", help="Raw numbers here.")] = None,
    run_dir: Annotated[Path, typer.Option(help="The stack's run directory.")] = ROOT
    / ".run"
    / "bench-capacity",
) -> None:
    """Place rounds of 1, 2, 3, ... simultaneous calls until one fails (or replies crawl)."""
    run_dir = run_dir.resolve()
    env = {"MAX_CALLS_PER_WORKER": str(max_calls), "WORKER_IDLE_PROCESSES": "1"}
    persona = "demo"
    with ExitStack() as scope:
        if cloud:
            fake = FakeCloud(latency_s=cloud_latency, chunk_delay_s=0.03, speech="tone")
            fake.transcript = "I would like to come in on Tuesday, please."
            fake.chat_reply = CLOUD_REPLY
            scope.enter_context(fake.in_thread())
            env |= cloud_persona(run_dir / "cloud", fake)
            persona = CLOUD_PERSONA
        with console.status("starting the stack") as status:
            stack = start_stack(run_dir / "stack", env=env, extra_args=("--persona", persona))
            scope.callback(stack.stop, STOP_TIMEOUT_S)
            sampler = TreeSampler(stack.process.pid)
            levels: list[Level] = []
            baseline: float | None = None
            for calls in range(1, max_calls + 1):
                level = Level(calls=calls, rounds=[])
                levels.append(level)
                for index in range(baseline_rounds if calls == 1 else rounds):
                    status.update(f"{calls} simultaneous call(s), round {index + 1}")
                    folder = run_dir / "calls" / f"{calls:02d}-calls-round-{index + 1}"
                    level.rounds.append(
                        run_round(stack, sampler, calls, folder, hang_up_expected=not cloud)
                    )
                    time.sleep(2.0)  # let the calls' processes finish before the next round
                if calls == 1:
                    baseline = level.reply_p95
                p95 = level.reply_p95
                if level.failures or (baseline and p95 and p95 > GIVE_UP * baseline):
                    break
            status.update("stopping the stack")
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    label = f"cloud fakes, {cloud_latency:.2f} s latency" if cloud else "local demo persona"
    report(levels, f"capacity: {label}")
    within_p95 = sustained(levels, baseline, p95=True)
    no_drops = sustained(levels, baseline, p95=False)
    last = levels[-1]
    console.print(
        f"sustained within {P95_GROWTH:.1f} x the single call's reply p95"
        + (f" ({baseline:.2f} s)" if baseline else "")
        + f": {within_p95} call(s); without a failed call: {no_drops}"
        + (f" (at {last.calls}: {'; '.join(last.failures)})" if last.failures else "")
        + f"; {os.cpu_count()} CPUs, load average {load}"
    )
    console.print(f"recordings and logs: {run_dir}")
    if json_out is not None:
        raw = {
            "persona": persona,
            "cloud_latency_s": cloud_latency if cloud else None,
            "sustained_within_p95": within_p95,
            "sustained_without_failure": no_drops,
            "baseline_reply_p95_s": baseline,
            "levels": [asdict(level) for level in levels],
        }
        json_out.write_text(json.dumps(raw, indent=2))


if __name__ == "__main__":
    app()
