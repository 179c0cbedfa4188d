"""The check's table: one row for the greeting and one per caller line, then its verdict."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from callcheck.latency import Timings
from callcheck.scenario import Outcome, Scenario, missing_words


@dataclass(frozen=True)
class CheckResult:
    """Everything a check found; `problems` empty means it passed."""

    scenario: Scenario
    outcome: Outcome
    timings: Timings
    problems: list[str]
    uri: str
    tools_checked: bool

    @property
    def passed(self) -> bool:
        return not self.problems


def _words(expected: Sequence[str], heard: str) -> str:
    if not expected:
        return ""
    missing = set(missing_words(expected, heard))
    return " ".join(
        f"[red]✗ {escape(w)}[/]" if w in missing else f"[green]✓ {escape(w)}[/]" for w in expected
    )


def _latency(seconds: float | None, limit: float | None) -> str:
    got = "–" if seconds is None else f"{seconds:.2f}s"
    if limit is None:
        return got
    good = seconds is not None and seconds <= limit
    return f"[{'green' if good else 'red'}]{got}[/] / {limit:.2f}s"


def _tools(result: CheckResult, line: int) -> str:
    if not result.tools_checked:
        return "[dim]not checked[/]"
    tools = result.outcome.tools or []
    got = ", ".join(tools[line]) if line < len(tools) else ""
    expected = result.scenario.turns[line].tools
    if expected is None:
        return got or "–"
    mark = "green" if line < len(tools) and tools[line] == expected else "red"
    return f"[{mark}]{got or '–'}[/] (want {', '.join(expected) or 'none'})"


def result_table(result: CheckResult) -> Table:
    scenario, outcome, timings = result.scenario, result.outcome, result.timings
    table = Table("turn", "caller said", "agent said (heard)", "expected words", "tools", "latency")
    table.title = f"{scenario.persona} at {result.uri}"
    table.add_row(
        "greeting",
        "",
        escape(outcome.greeting),
        _words(scenario.greeting, outcome.greeting),
        "",
        _latency(timings.greeting_s, scenario.max_greeting_s),
    )
    limit = scenario.max_voice_to_voice_p95_s
    for i, turn in enumerate(scenario.turns):
        said = i < len(outcome.replies)
        reply = outcome.replies[i] if said else ""
        seconds = timings.voice_to_voice_s[i] if i < len(timings.voice_to_voice_s) else None
        table.add_row(
            str(i + 1),
            escape(turn.say) if said else f"[dim]{escape(turn.say)} (not said)[/]",
            escape(reply),
            _words(turn.heard, reply),
            _tools(result, i) if said else "",
            _latency(seconds, limit) if said else "",
        )
    return table


def print_result(result: CheckResult, out: Console, err: Console) -> int:
    """Print the table and the verdict; the exit code (1 on any problem)."""
    out.print(result_table(result))
    p95 = result.timings.voice_to_voice_p95_s
    if p95 is not None:
        limit = result.scenario.max_voice_to_voice_p95_s
        out.print(f"voice to voice p95: {_latency(p95, limit)}")
    if not result.tools_checked:
        out.print("[dim]tools: not checked (no local stack's API to read the call record)[/]")
    for problem in result.problems:
        err.print(f"[bold red]failed:[/] {escape(problem)}", soft_wrap=True)
    if result.passed:
        out.print(f"[green]passed[/] {escape(result.scenario.persona)}")
    return 0 if result.passed else 1
