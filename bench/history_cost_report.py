"""`bench.history_cost`'s table and ratio lines: each side's p50 / p95, then on / off.

A ratio above 1 means the history writes made that measure slower; the box is shared, so
read a few percent either way as noise (the load average is printed beside the numbers).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from rich.console import Group
from rich.table import Table
from rich.text import Text


@dataclass(frozen=True)
class Side:
    """One stack's numbers: "on" (history written) or "off"; measure -> seconds each."""

    name: str
    results: dict[str, list[float]]
    facts: dict[str, float]  # window_s, fed, waiting (in Redis at the end), lost


def merge(sides: list[Side]) -> list[Side]:
    """Several stacks of the same side as one: their numbers pooled, their facts added up."""
    merged: dict[str, Side] = {}
    for side in sides:
        if (seen := merged.get(side.name)) is None:
            merged[side.name] = Side(side.name, dict(side.results), dict(side.facts))
            continue
        for measure, values in side.results.items():
            seen.results[measure] = seen.results.get(measure, []) + values
        for fact, value in side.facts.items():
            seen.facts[fact] = seen.facts.get(fact, 0.0) + value
    return list(merged.values())


def percentiles_ms(values: list[float]) -> tuple[float, float]:
    p50, p95 = np.percentile(values, [50, 95])
    return float(p50) * 1000, float(p95) * 1000


def ratio_lines(on: Side, off: Side) -> list[str]:
    """One line per measure both sides have numbers for: on / off at p50 and at p95."""
    lines = []
    for measure, values in on.results.items():
        other = off.results.get(measure) or []
        if not values or not other:
            lines.append(f"ratio history on / off, {measure}: no numbers on one side")
            continue
        (on50, on95), (off50, off95) = percentiles_ms(values), percentiles_ms(other)
        lines.append(
            f"ratio history on / off, {measure}: p50 {on50 / off50:.2f}, p95 {on95 / off95:.2f}"
        )
    return lines


def stack_line(n: int, side: Side) -> str:
    """One stack's p50s, to see whether a side's numbers come from one bad stack."""
    parts = [
        f"{measure.strip()} {percentiles_ms(values)[0]:.0f}"
        for measure, values in side.results.items()
        if values
    ]
    return f"stack {n} (history {side.name}) p50 ms: " + ", ".join(parts)


def archived_line(side: Side) -> str:
    """What the side wrote to the history, and what its dispatcher and API cost in CPU."""
    facts = side.facts
    window = facts["window_s"]
    cpu = ", ".join(
        f"{name} {facts[f'{name}_cpu_s'] / window:.0%} of a core"
        for name in ("dispatcher", "api")
        if f"{name}_cpu_s" in facts
    )
    return (
        f"history {side.name}: {facts['fed']:.0f} finished calls fed over {window:.0f} s; "
        f"{facts.get('history_rows', 0):.0f} calls in the history, {facts['waiting']:.0f} "
        f"waiting in Redis at the end; {cpu}; {facts['lost']:.0f} call(s) never rang"
    )


def report(sides: list[Side], *, archive_rate: float, run_dir: Path) -> Group:
    table = Table(title=f"history writes and the POST path ({archive_rate:g} calls/s archived)")
    for column in ("measure", "history", "n", "p50", "p95"):
        table.add_column(column, justify="left" if column in ("measure", "history") else "right")
    for measure in sides[0].results:
        for side in sides:
            values = side.results.get(measure) or []
            cells = [f"{v:.1f} ms" for v in percentiles_ms(values)] if values else ["-", "-"]
            table.add_row(measure, side.name, str(len(values)), *cells)
    lines = [archived_line(side) for side in sides]
    named = {side.name: side for side in sides}
    if {"on", "off"} <= set(named):
        lines += ratio_lines(named["on"], named["off"])
    load1, load5, load15 = os.getloadavg()
    lines.append(
        f"SQLite history; {os.cpu_count()} CPUs, load average {load1:.2f}, {load5:.2f}, "
        f"{load15:.2f}; logs: {run_dir}"
    )
    return Group(table, *(Text(line) for line in lines))
