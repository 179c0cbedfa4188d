"""The rounds and levels of the capacity benchmark, the verdict on each, and their tables.

A level is every round of one number of simultaneous calls. A round holds its calls' timings
and, for each part of the stack (`bench.process_tree`), its CPU and PSS during the round and
just before it, so that each part's cost per added call is the difference over the calls.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from rich.console import Console
from rich.table import Table

from bench.first_call import CallTiming, summary
from bench.process_tree import BENCH, CALLS, LABELS, PARTS
from bench.reply_hops import STAGES, ReplyHops

P95_GROWTH = 1.2  # a level whose reply p95 is above this times the baseline's is over capacity
STACK = tuple(p for p in PARTS if p != BENCH)

console = Console(width=max(Console().width, 150))


@dataclass(kw_only=True)
class Round:
    calls: int
    timings: list[CallTiming]
    cpu: dict[str, float]  # part -> mean % of one core over the round (100 = one core)
    idle_cpu: dict[str, float]  # the same, just before the round
    pss: dict[str, float]  # part -> peak MB over the round
    idle_pss: dict[str, float]  # part -> mean MB just before the round
    stack_pss: float  # peak of the stack's total
    idle_stack_pss: float
    call_processes: int  # most call processes alive (warm and in a call) during the round
    failures: list[str] = field(default_factory=list)
    hops: list[ReplyHops] = field(default_factory=list)  # replies paired with their records
    wait: dict[str, float] = field(default_factory=dict)  # part -> mean % of one core queued


@dataclass(kw_only=True)
class Level:
    """All rounds of one number of simultaneous calls."""

    calls: int
    rounds: list[Round]

    @property
    def timings(self) -> list[CallTiming]:
        return [t for r in self.rounds for t in r.timings]

    @property
    def hops(self) -> list[ReplyHops]:
        return [h for r in self.rounds for h in r.hops]

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
        """Mean CPU % and peak PSS MB of the stack, and both per call above idle."""
        cpu = self._mean(lambda r: sum(r.cpu[p] for p in STACK))
        idle_cpu = self._mean(lambda r: sum(r.idle_cpu[p] for p in STACK))
        pss = max(r.stack_pss for r in self.rounds)
        idle_pss = self._mean(lambda r: r.idle_stack_pss)
        return cpu, (cpu - idle_cpu) / self.calls, pss, (pss - idle_pss) / self.calls

    def part_per_call(self, part: str) -> tuple[float, float]:
        """CPU % and PSS MB that one added call costs this part (above idle)."""
        cpu = self._mean(lambda r: r.cpu[part] - r.idle_cpu[part])
        pss = self._mean(lambda r: r.pss[part] - r.idle_pss[part])
        return cpu / self.calls, pss / self.calls

    def pss_per_call_process(self) -> float:
        """Peak PSS of the call processes over how many there were (warm ones included)."""
        return max(r.pss[CALLS] / max(r.call_processes, 1) for r in self.rounds)

    def _mean(self, value: Callable[[Round], float]) -> float:
        return float(np.mean([value(r) for r in self.rounds]))


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
    for column in ("CPU (stack)", "CPU / call", "PSS peak", "PSS / call", "PSS / call proc"):
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
            f"{cpu_call:.1f} %",
            f"{pss:.0f} MB",
            f"{pss_call:.0f} MB",
            f"{level.pss_per_call_process():.0f} MB",
        )
    console.print(table)
    report_parts(levels)


def report_parts(levels: list[Level]) -> None:
    """Per added call, what each part costs: % of one core, then PSS MB."""
    for unit, index in (("CPU % of one core", 0), ("PSS MB", 1)):
        table = Table(title=f"per added call, by part: {unit} (above idle, over the calls)")
        table.add_column("calls", justify="right")
        for part in PARTS:
            table.add_column(LABELS[part], justify="right")
        for level in levels:
            cells = [level.part_per_call(part)[index] for part in PARTS]
            table.add_row(str(level.calls), *(f"{v:.1f}" for v in cells))
        console.print(table)
    names = ", ".join(f"{LABELS[p]}: {p}" for p in PARTS)
    console.print(f"parts: {names}", highlight=False)
    report_waits(levels)


def report_waits(levels: list[Level]) -> None:
    """Each part's threads runnable but not running, over the round: the CPU the box lacked
    (sampled only with `--cpu-waits`)."""
    if not any(r.wait and any(r.wait.values()) for level in levels for r in level.rounds):
        return
    table = Table(title="waiting for a CPU, by part: % of one core over the calls (all threads)")
    table.add_column("calls", justify="right")
    for part in PARTS:
        table.add_column(LABELS[part], justify="right")
    for level in levels:
        mean = [float(np.mean([r.wait.get(part, 0.0) for r in level.rounds])) for part in PARTS]
        table.add_row(str(level.calls), *(f"{v:.0f}" for v in mean))
    console.print(table)
    console.print(
        "waiting: the time the part's threads were ready to run and queued for a core "
        "(the kernel's run_delay); 100 = one thread queued the whole time",
        highlight=False,
    )


HOPS = (
    ("inbound", "caller's last sample at the phone -> end of speech at the worker's VAD"),
    ("worker", "end of speech -> the agent's first reply audio out"),
    ("outbound", "first reply audio out -> first reply audio at the phone"),
)


def report_hops(levels: list[Level]) -> None:
    """Each level's replies cut at the worker's marks (`bench.reply_hops`), p50 / p95."""
    table = Table(title="reply by hop, p50 / p95 (phone and worker clocks are one clock)")
    table.add_column("calls", justify="right")
    table.add_column("paired", justify="right")
    for name, _ in HOPS:
        table.add_column(name, justify="right")
    for level in levels:
        hops = level.hops
        # `summary`: p50, p95, min, max
        cells = [
            " / ".join(summary([getattr(h, f"{name}_s") for h in hops])[:2]) for name, _ in HOPS
        ]
        table.add_row(str(level.calls), f"{len(hops)} of {len(level.replies)}", *cells)
    console.print(table)
    console.print("; ".join(f"{name}: {what}" for name, what in HOPS), highlight=False)
    report_worker_stages(levels)


def report_worker_stages(levels: list[Level]) -> None:
    """The worker hop of the paired replies by its record's stages, p50 / p95."""
    table = Table(title="the worker hop by stage, p50 / p95 (from the call records)")
    table.add_column("calls", justify="right")
    for name in ("worker", *STAGES, "unplaced"):
        table.add_column(name.removesuffix("_s"), justify="right")
    for level in levels:
        hops = level.hops
        columns = [
            [h.worker_s for h in hops],
            *([getattr(h.stages, name) for h in hops] for name in STAGES),
            [h.unplaced_s for h in hops],
        ]
        cells = [" / ".join(summary([v for v in c if v is not None])[:2]) for c in columns]
        table.add_row(str(level.calls), *cells)
    console.print(table)
    console.print(
        "unplaced: the worker hop less its three stages (the LLM request after the turn, the "
        "first sentence for the TTS, the audio out to the room, waits for the CPU)",
        highlight=False,
    )


def sustained(levels: list[Level], baseline: float | None, *, p95: bool) -> int:
    """The most simultaneous calls before the first level that failed (on p95 too, if asked)."""
    most = 0
    for level in levels:
        if verdict(level, baseline if p95 else None) is not None:
            break
        most = level.calls
    return most
