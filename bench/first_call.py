"""First-call benchmark: how long a caller waits for the greeting, and for each reply.

Starts one real stack (`start.py up --dev --auto-ports`, the demo persona), then places N calls
one after another from a scripted SIP phone on loopback. Each call hears the greeting, says
"I would like to come in on Tuesday, please." once the greeting is over, and waits for the
agent's goodbye. It prints timings; it never asserts them.

    .venv/bin/python -m bench.first_call --calls 10
    .venv/bin/python -m bench.first_call --calls 3 --json first_call.json

- greeting latency: INVITE sent -> first greeting audio heard by the phone.
- reply latency (voice to voice): the caller's last voiced sample -> first reply audio heard.

A call counts as failed, and gives no numbers to the table, when it is not answered, no
greeting or no reply is heard, the agent talks during the caller's line, or the agent does not
hang up after its goodbye.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Annotated

import numpy as np
import typer
from rich.console import Console
from rich.table import Table

from callcheck.phone import CallResult, PhoneError, dial
from callcheck.voice import first_voice_offset, voice_windows
from dialroom.paths import ROOT
from dialroom.persona import Persona, load_persona
from tests.support.stack import RunningStack, running_stack

PERSONA = "demo"  # the caller line below answers this persona's question
CALLER_LINE = ROOT / "tests" / "fixtures" / "caller_tuesday.wav"
WINDOW_S = 0.02  # resolution of the voice detection, and so of every number here
CALL_LIMIT_S = 40.0  # the phone hangs up by then; a finished dialogue takes about 20 s

console = Console()
app = typer.Typer(add_completion=False)


@dataclass(kw_only=True)
class CallTiming:
    """One call's numbers, in seconds; None where it never got that far."""

    call: int
    greeting_s: float | None = None  # INVITE sent -> first greeting audio
    answered_greeting_s: float | None = None  # media active (the answer) -> first greeting audio
    greeting_end_s: float | None = None  # media active -> greeting's last audio
    caller_end_s: float | None = None  # media active -> caller's last voiced sample
    media_active_at: float | None = None  # wall clock (`time.time()`) of media active
    reply_s: float | None = None  # caller's last voiced sample -> first reply audio
    failure: str | None = None


def speech_span(wav: Path) -> tuple[float, float]:
    """Seconds from the start of `wav` to its first and past its last voiced window."""
    voiced = np.flatnonzero(voice_windows(wav, window_s=WINDOW_S))
    if voiced.size == 0:
        raise ValueError(f"{wav} is silent")
    return float(voiced[0] * WINDOW_S), float((voiced[-1] + 1) * WINDOW_S)


def measure(call: CallResult, index: int, caller_span: tuple[float, float]) -> CallTiming:
    """Read one finished call's recording into a CallTiming (with `failure` set if it broke)."""
    timing = CallTiming(call=index)
    if not call.connected or call.media_active_at is None or call.invite_sent_at is None:
        timing.failure = f"not answered ({call.status_code} {call.reason})".strip()
        return timing
    if call.recording is None or not call.recording.is_file():
        timing.failure = "no recording"
        return timing
    greeting_at = first_voice_offset(call.recording, window_s=WINDOW_S)
    if greeting_at is None:
        timing.failure = "no greeting heard"
        return timing
    timing.greeting_s = call.media_active_at + greeting_at - call.invite_sent_at
    timing.answered_greeting_s = greeting_at
    timing.media_active_at = call.media_active_at
    if not call.plays:
        timing.failure = "call ended before the caller spoke"
        return timing
    played_at = call.plays[0].started_at - call.media_active_at
    caller_start, caller_end = played_at + caller_span[0], played_at + caller_span[1]
    timing.caller_end_s = caller_end

    voiced = voice_windows(call.recording, window_s=WINDOW_S)
    start_w, end_w = int(caller_start / WINDOW_S), int(caller_end / WINDOW_S)
    before = np.flatnonzero(voiced[:start_w])
    timing.greeting_end_s = float((before[-1] + 1) * WINDOW_S) if before.size else None
    if voiced[start_w:end_w].any():
        timing.failure = "agent audio during the caller's line (greeting not over? --play-at)"
        return timing
    reply_at = first_voice_offset(call.recording, after_s=caller_end, window_s=WINDOW_S)
    if reply_at is None:
        timing.failure = "no reply after the caller spoke"
        return timing
    timing.reply_s = reply_at - caller_end
    if not call.remote_hangup:
        timing.failure = "agent replied but did not hang up (a retry, not the goodbye?)"
    return timing


def place_call(stack: RunningStack, index: int, *, play_at: float) -> CallResult:
    calls_dir = stack.run_dir / "calls"
    return dial(
        stack.state.sip_uri,
        result_dir=calls_dir,
        play=[(CALLER_LINE, play_at)],
        record=calls_dir / f"call-{index:02d}.wav",
        hangup_after=CALL_LIMIT_S,
        timeout=CALL_LIMIT_S + 10.0,
    ).call


def summary(values: list[float]) -> list[str]:
    if not values:
        return ["-"] * 4
    stats = np.percentile(values, [50, 95]).tolist() + [min(values), max(values)]
    return [f"{v:.2f} s" for v in stats]


def report(timings: list[CallTiming], persona: Persona, play_at: float) -> None:
    ok = [t for t in timings if t.failure is None]
    greetings = [t.greeting_s for t in ok if t.greeting_s is not None]
    replies = [t.reply_s for t in ok if t.reply_s is not None]
    turn = persona.turn
    failed = len(timings) - len(ok)
    table = Table(title=f"first call: {len(timings)} calls, {len(ok)} ok, {failed} failed")
    table.add_column("measure")
    for column in ("p50", "p95", "min", "max"):
        table.add_column(column, justify="right")
    table.add_column("note")
    table.add_row("greeting latency", *summary(greetings), "INVITE -> first greeting audio")
    answered = [t.answered_greeting_s for t in ok if t.answered_greeting_s is not None]
    table.add_row("  after the answer", *summary(answered), "media active -> first greeting audio")
    table.add_row("reply latency", *summary(replies), "end of caller speech -> reply")
    table.add_row(
        "  less min endpointing",
        *summary([r - turn.min_endpointing_s for r in replies]),
        f"endpointing {turn.min_endpointing_s:.2f}-{turn.max_endpointing_s:.2f} s",
    )
    console.print(table)
    for t in timings:
        if t.failure is not None:
            console.print(f"[red]call {t.call} failed:[/] {t.failure}")
    ends = [t.greeting_end_s for t in ok if t.greeting_end_s is not None]
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    console.print(
        f"persona {persona.name}; caller line at {play_at:.1f} s after media active"
        + (f" (greeting over by {max(ends):.2f} s at the latest)" if ends else "")
        + f"; {os.cpu_count()} CPUs, load average {load}"
    )


@app.command()
def main(
    calls: Annotated[int, typer.Option(min=1, help="Calls to place, one after another.")] = 10,
    json_out: Annotated[
        Path | None, typer.Option("--json", help="Write the raw per-call numbers here.")
    ] = None,
    play_at: Annotated[
        float, typer.Option(help="Seconds after media is active when the caller speaks.")
    ] = 7.0,
    run_dir: Annotated[
        Path, typer.Option(help="The stack's run directory (logs, recordings).")
    ] = ROOT / ".run" / "bench-first-call",
) -> None:
    """Place CALLS calls to the demo persona and print greeting and reply latency."""
    persona = load_persona(PERSONA)
    caller_span = speech_span(CALLER_LINE)
    timings: list[CallTiming] = []
    with console.status("starting the stack") as status:
        with running_stack(run_dir.resolve(), extra_args=("--persona", PERSONA)) as stack:
            for index in range(1, calls + 1):
                status.update(f"call {index}/{calls}")
                try:
                    call = place_call(stack, index, play_at=play_at)
                except PhoneError as err:
                    timings.append(CallTiming(call=index, failure=f"phone: {err}"))
                    continue
                timings.append(measure(call, index, caller_span))
                time.sleep(1.0)  # let the worker finish the call before the next INVITE
            status.update("stopping the stack")
    report(timings, persona, play_at)
    console.print(f"recordings and logs: {run_dir}")
    if json_out is not None:
        raw = {
            "persona": persona.name,
            "endpointing": persona.turn.model_dump(),
            "play_at_s": play_at,
            "caller_speech_s": caller_span,
            "cpus": os.cpu_count(),
            "load_average": os.getloadavg(),
            "calls": [asdict(t) for t in timings],
        }
        json_out.write_text(json.dumps(raw, indent=2))


if __name__ == "__main__":
    app()
