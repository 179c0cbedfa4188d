"""Voice-to-voice benchmark: how long a caller waits for each reply in a long conversation.

Starts one real stack (`start.py up --dev --auto-ports`) with a local flow persona written to a
temporary agents folder: TURNS questions in a row, each answered by the same caller line
("I would like to come in on Tuesday, please."), then a goodbye. One call (or --calls) from the
scripted SIP phone plays the line once per question, timed after the agent's speech like a
scenario file's call (tests/support/scenarios.py), and records the agent.

    .venv/bin/python -m bench.voice_to_voice                 # one call, 20 turns, ~4 minutes
    .venv/bin/python -m bench.voice_to_voice --turns 5 --json out.json

- voice to voice (phone): the caller's last voiced sample -> the reply's first audio, from the
  phone's clock and recording (as in bench/first_call.py, 20 ms resolution).
- beside it, from the worker's call record (`turns`, when the worker writes them): its own
  voice-to-voice, end of turn (the endpointing wait included), STT, LLM first token and TTS
  first audio. What the phone measures beyond the worker's own figure is the platform's audio
  path: SIP, RTP, the bridge, WebRTC and the jitter buffers.

A turn gives no number when the agent is heard during the caller's line or no reply follows
it. It prints timings; it never asserts them.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer
import yaml
from rich.console import Console
from rich.table import Table

from bench.first_call import WINDOW_S, speech_span, summary
from callcheck.phone import CallResult, PhoneError
from callcheck.scenario import Outcome, Scenario, ScenarioError, Turn
from callcheck.voice import first_voice_offset, voice_windows
from dialroom.paths import AGENTS_DIR, ROOT
from dialroom.persona import Persona, load_persona
from tests.support.fixtures import CALLER_LINES
from tests.support.scenarios import rendered, run_call
from tests.support.stack import running_stack
from worker.providers.vad import vad_silence_s

PERSONA = "voice-to-voice"
NUMBER = "2199"
CALLER_TEXT = CALLER_LINES["caller_tuesday.wav"]
GREETING = "Hello, this is the latency bench. Which day would you like?"
QUESTION = "Tuesday, noted. Which day after that?"
GOODBYE = "Tuesday, noted. That was the last one, goodbye!"
WORKER_STAGES = ("voice_to_voice_s", "end_of_turn_s", "stt_s", "llm_ttft_s", "tts_ttfb_s")

console = Console()
app = typer.Typer(add_completion=False)


@dataclass(kw_only=True)
class TurnTiming:
    call: int
    turn: int
    reply_s: float | None = None  # caller's last voiced sample -> first reply audio
    failure: str | None = None


def bench_persona(
    turns: int, vad_silence: float | None = None, *, transcribe_on_pause: bool = True
) -> dict[str, Any]:
    """A flow persona asking `turns` questions, each answered by CALLER_TEXT; demo's turn
    settings (`vad_silence` overrides its `vad_min_silence_s`), so the numbers compare with
    bench/first_call.py."""
    flow: list[dict[str, Any]] = []
    for n in range(1, turns + 1):
        flow.append({"collect": f"day{n}", "choices": ["tuesday"]})
        flow.append({"say": GOODBYE if n == turns else QUESTION, "end_call": n == turns})
    demo = load_persona("demo")
    turn = demo.turn.model_dump()
    if vad_silence is not None:
        turn["vad_min_silence_s"] = vad_silence
    return {
        "numbers": [NUMBER],
        "stt": {"provider": "local", "transcribe_on_pause": transcribe_on_pause},
        "llm": {"provider": "flow"},
        "tts": {"provider": "local"},
        "greeting": {"inbound": GREETING},
        "turn": turn,
        "limits": {"silence": {"reprompt_after_s": 30}},
        "flow": flow,
    }


def measure(call: CallResult, index: int, span: tuple[float, float]) -> list[TurnTiming]:
    """Each caller line of one call -> the reply latency after it (or why there is none)."""
    if call.recording is None or call.media_active_at is None:
        return [TurnTiming(call=index, turn=0, failure="call not answered")]
    voiced = voice_windows(call.recording, window_s=WINDOW_S)
    timings = []
    for turn, play in enumerate(call.plays, start=1):
        timing = TurnTiming(call=index, turn=turn)
        start = play.started_at - call.media_active_at + span[0]
        end = play.started_at - call.media_active_at + span[1]
        reply_at = first_voice_offset(call.recording, after_s=end, window_s=WINDOW_S)
        if voiced[int(start / WINDOW_S) : int(end / WINDOW_S)].any():
            timing.failure = "agent heard during the caller's line"
        elif reply_at is None:
            timing.failure = "no reply"
        else:
            timing.reply_s = reply_at - end
        timings.append(timing)
    return timings


def stage_values(records: list[dict[str, Any]], stage: str) -> list[float]:
    turns = [turn for record in records for turn in record.get("turns", [])]
    return [float(turn[stage]) for turn in turns if turn.get(stage) is not None]


def report(
    timings: list[TurnTiming], records: list[dict[str, Any]], persona: Persona, turns: int
) -> None:
    ok = [t.reply_s for t in timings if t.reply_s is not None]
    table = Table(title=f"voice to voice: {len(timings)} turns heard, {len(ok)} measured")
    table.add_column("measure")
    for column in ("p50", "p95", "min", "max"):
        table.add_column(column, justify="right")
    table.add_column("source")
    table.add_row("voice to voice (phone)", *summary(ok), "phone clock and recording")
    notes = {
        "voice_to_voice_s": "worker: end of speech -> first audio out",
        "end_of_turn_s": "worker: end of speech -> turn judged over",
        "stt_s": "worker: end of speech -> final transcript",
        "llm_ttft_s": "worker: LLM request -> first token",
        "tts_ttfb_s": "worker: text to TTS -> first audio",
    }
    for stage in WORKER_STAGES:
        values = stage_values(records, stage)
        table.add_row(f"  {stage.removesuffix('_s')}", *summary(values), notes[stage])
    worker = stage_values(records, "voice_to_voice_s")
    if ok and worker:
        outside = float(np.median(ok) - np.median(worker))
        table.add_row("  outside the worker", f"{outside:.2f} s", "", "", "", "phone p50 - worker")
    console.print(table)
    turn = persona.turn
    for t in timings:
        if t.failure is not None:
            console.print(f"[red]call {t.call} turn {t.turn}:[/] {t.failure}")
    if not any("turns" in record for record in records):
        console.print("[yellow]the call records hold no per-turn latency (`turns`)[/]")
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    console.print(
        f"flow persona, {turns} questions a call; endpointing {turn.min_endpointing_s:.2f}-"
        f"{turn.max_endpointing_s:.2f} s ({turn.detection}); VAD silence "
        f"{vad_silence_s(persona):.2f} s; transcribe on pause {persona.stt.transcribe_on_pause}; "
        f"{os.cpu_count()} CPUs, load average {load}"
    )


@app.command()
def main(
    turns: Annotated[int, typer.Option(min=1, max=60, help="Questions in each call.")] = 20,
    calls: Annotated[int, typer.Option(min=1, help="Calls to place, one after another.")] = 1,
    vad_silence: Annotated[
        float | None, typer.Option(help="turn.vad_min_silence_s (default: the demo persona's).")
    ] = None,
    transcribe_on_pause: Annotated[
        bool, typer.Option(help="stt.transcribe_on_pause: Whisper starts at the first pause.")
    ] = True,
    json_out: Annotated[
        Path | None, typer.Option("--json", help="Write the raw per-turn numbers here.")
    ] = None,
    run_dir: Annotated[
        Path, typer.Option(help="The stack's run directory (logs, recordings).")
    ] = ROOT / ".run" / "bench-voice-to-voice",
) -> None:
    """Place CALLS calls of TURNS turns to a local flow persona; print reply latency."""
    run_dir = run_dir.resolve()
    agents = run_dir / "agents"
    agents.mkdir(parents=True, exist_ok=True)
    bench = bench_persona(turns, vad_silence, transcribe_on_pause=transcribe_on_pause)
    (agents / f"{PERSONA}.yaml").write_text(yaml.safe_dump(bench))
    (agents / "demo.yaml").write_text((AGENTS_DIR / "demo.yaml").read_text())
    persona = load_persona(PERSONA, agents_dir=agents)
    scenario = Scenario(persona=PERSONA, turns=tuple(Turn(say=CALLER_TEXT) for _ in range(turns)))
    replies = [QUESTION] * (turns - 1) + [GOODBYE]
    expected = Outcome(greeting=GREETING, replies=replies)
    span = speech_span(rendered(CALLER_TEXT, run_dir / "calls" / "wav"))
    timings: list[TurnTiming] = []
    records: list[dict[str, Any]] = []
    with console.status("starting the stack") as status:
        with running_stack(run_dir, env={"AGENTS_DIR": str(agents)}) as stack:
            for index in range(1, calls + 1):
                status.update(f"call {index}/{calls}: {turns} turns")
                try:
                    outcome = run_call(
                        scenario,
                        stack,
                        run_dir / "calls" / f"call-{index:02d}",
                        expected=expected,
                        agents_dir=agents,
                    )
                except (ScenarioError, PhoneError) as err:
                    timings.append(TurnTiming(call=index, turn=0, failure=str(err)))
                    continue
                if outcome.call is not None:
                    timings += measure(outcome.call, index, span)
                records.append(outcome.record or {})
                time.sleep(1.0)
            status.update("stopping the stack")
    report(timings, records, persona, turns)
    console.print(f"recordings and logs: {run_dir}")
    if json_out is not None:
        raw = {
            "persona": bench,
            "caller_speech_s": span,
            "cpus": os.cpu_count(),
            "load_average": os.getloadavg(),
            "turns": [asdict(t) for t in timings],
            "worker_turns": [record.get("turns", []) for record in records],
        }
        json_out.write_text(json.dumps(raw, indent=2))


if __name__ == "__main__":
    app()
