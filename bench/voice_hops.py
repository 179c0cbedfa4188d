"""Voice to voice hop by hop, at the phone, with cloud providers faked at set timings.

One real stack (`start.py up --dev --auto-ports`) and a persona on the real cloud plugins
(Azure STT, OpenAI LLM, Azure TTS), each pointed at a local fake whose timing is set: the
Azure Speech fake sends interim results every 100 ms while the caller speaks and its final
`--stt-final` s after they stop (Azure's segmentation silence); the LLM fake's first token comes
`--llm` s after the request; the TTS fake's first audio `--tts` s after it (its speech is
rendered beforehand, so synthesis costs nothing). The scripted SIP phone plays the caller's
line once per question, as in `bench.voice_to_voice`.

    .venv/bin/python -m bench.voice_hops --turns 5             # one call, ~2 minutes
    .venv/bin/python -m bench.voice_hops --turns 5 --calls 2 --json out.json

Every hop is placed on one clock (`time.time()`: the phone, the fakes and the worker share the
machine), from the caller's last voiced sample as the phone sent it:

- end of speech at the worker: the worker's audio reaching the STT (the Azure fake's receipt
  of the line's last voiced audio); and where the worker's VAD placed the end of speech (the
  call record's `caller_stopped_at`, wall clock). The worker's own stage times (call record
  `turns`) count from the latter: end of turn, transcript; first audio out is the record's
  `agent_started_at`.
- LLM asked / TTS asked: the fakes' receipt of the requests; first token / first audio adds the
  worker's measured `llm_ttft_s` / `tts_ttfb_s`.
- Azure's own final: when the fake sent it; with `stt.end_turn_on_interim` it is off the path.
- first audio at the phone (played): the phone's recording (20 ms windows), written after the
  phone's own jitter buffer and conference clock.
- with the RTP tap (`bench.rtp_tap`, needs CAP_NET_RAW): the caller's last voiced packet as it
  left the phone and the reply's first voiced packet as it reached it (network).

The platform's own part is the phone's total minus the persona's `turn.min_endpointing_s` and
the fakes' set LLM and TTS times, printed twice: as the phone played it, and from packet to
packet (less the bench phone's own send clock and receive delay, which are the instrument's).
Each call's jitter-buffer statistics (pjsua's) are printed too. It never asserts timings.
"""

from __future__ import annotations

import asyncio
import json
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer
import yaml
from rich.console import Console
from rich.table import Table

from bench.first_call import speech_span
from bench.phone_part import print_phone, print_platform
from bench.rtp_tap import RtpTap, network_hops
from bench.voice_to_voice import CALLER_TEXT, GREETING, QUESTION, measure
from callcheck.phone import PhoneError
from callcheck.scenario import Outcome, Scenario, ScenarioError, Turn
from dialroom.paths import ROOT
from dialroom.persona import load_persona
from tests.support.azure_speech_fake import AzureSpeechFake
from tests.support.cloud_fakes import FakeCloud
from tests.support.scenarios import rendered, run_call
from tests.support.stack import running_stack
from worker.providers.vad import vad_silence_s

PERSONA = "voice-hops"
NUMBER = "2198"
HOPS = (
    ("caller_sent", "caller's last voiced packet left the phone (network)"),
    ("voice_at_worker", "end of speech at the worker (audio at STT)"),
    ("worker_end_of_speech", "end of speech as the worker's VAD placed it"),
    ("end_of_turn", "end of turn decided (worker)"),
    ("transcript", "final transcript (worker)"),
    ("llm_asked", "LLM asked (fake)"),
    ("llm_first_token", "LLM first token (worker)"),
    ("tts_asked", "TTS asked (fake)"),
    ("tts_first_audio", "TTS first audio (worker)"),
    ("worker_audio_out", "first audio out of the worker"),
    ("phone_network", "first audio reached the phone (network)"),
    ("phone_audio", "first audio at the phone (played)"),
    ("azure_final", "Azure's own final sent (fake)"),
)

console = Console()
app = typer.Typer(add_completion=False)


@dataclass
class Fakes:
    cloud: FakeCloud
    azure: AzureSpeechFake


@dataclass(kw_only=True)
class TurnHops:
    call: int
    turn: int
    hops: dict[str, float] = field(default_factory=dict)  # seconds after the caller stopped
    failure: str | None = None
    phone: dict[str, float] = field(default_factory=dict)  # the call's receive stats (turn 1)


@contextmanager
def fakes_running(*, llm_s: float, tts_s: float, stt_final_s: float) -> Iterator[Fakes]:
    """Both fakes on a loop of their own thread, for the whole run."""
    cloud = FakeCloud(openai_key="sk-bench", azure_speech_key="az-bench", speech="piper")
    cloud.latencies = {"chat": llm_s, "tts": tts_s}
    cloud.chat_reply = QUESTION
    cloud.prepare_speech([GREETING, QUESTION])
    azure = AzureSpeechFake(phrase=CALLER_TEXT, final_after_s=stt_final_s)
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="fakes", daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(cloud.start(), loop).result(10)
    asyncio.run_coroutine_threadsafe(azure.__aenter__(), loop).result(10)
    try:
        yield Fakes(cloud=cloud, azure=azure)
    finally:
        asyncio.run_coroutine_threadsafe(azure.__aexit__(None, None, None), loop).result(10)
        asyncio.run_coroutine_threadsafe(cloud.stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)


def bench_persona(fakes: Fakes, turn: dict[str, Any], *, on_interim: bool) -> dict[str, Any]:
    stt = {"provider": "azure", "endpoint": fakes.azure.endpoint, "end_turn_on_interim": on_interim}
    return {
        "numbers": [NUMBER],
        "stt": stt,
        "llm": {
            "provider": "openai",
            "model": "gpt-bench",
            "base_url": fakes.cloud.openai_base_url,
        },
        "tts": {"provider": "azure", "endpoint": fakes.cloud.azure_tts_endpoint},
        "prompt": "receptionist.md",  # any prompt: the LLM fake answers QUESTION to all
        "greeting": {"inbound": GREETING},
        "turn": turn,
        "tools": {"end_call": False},
        "limits": {"silence": {"reprompt_after_s": 30}},
    }


def first_after(times: list[float], start: float, within_s: float = 5.0) -> float | None:
    later = sorted(t for t in times if start <= t <= start + within_s)
    return later[0] if later else None


def last_between(times: list[float], start: float, end: float) -> float | None:
    within = [t for t in times if start <= t <= end]
    return max(within) if within else None


def turn_hops(
    stopped_at: float, reply_s: float | None, worker: dict[str, Any], fakes: Fakes
) -> dict[str, float]:
    """One turn's hops, seconds after `stopped_at` (the caller's last voiced sample sent)."""
    hops: dict[str, float] = {}
    cloud = fakes.cloud
    voice = first_after(fakes.azure.voice_ended_at, stopped_at - 0.1)
    tts = first_after([r.at for r in cloud.requests_to("tts")], stopped_at)
    # The spoken reply's LLM request: the last before its TTS request (a preflight on words
    # that then changed asked once before it, and its reply was thrown away).
    chats = [r.at for r in cloud.requests_to("chat")]
    llm = last_between(chats, stopped_at, tts) if tts is not None else None
    llm = llm if llm is not None else first_after(chats, stopped_at)
    final = first_after(fakes.azure.finals_sent_at, stopped_at)
    if voice is not None:
        hops["voice_at_worker"] = voice - stopped_at
    # The worker's stage times count from its VAD's end of speech: its wall clock of that
    # moment (`caller_stopped_at`, records since 2026-12-06) places them exactly; an older
    # record's are placed from the STT's receipt of the audio instead.
    if worker.get("caller_stopped_at") is not None:
        anchor: float | None = float(worker["caller_stopped_at"]) - stopped_at
        hops["worker_end_of_speech"] = anchor
    else:
        anchor = hops.get("voice_at_worker")
    if anchor is not None:
        for hop, stage in (
            ("end_of_turn", "end_of_turn_s"),
            ("transcript", "stt_s"),
            ("worker_audio_out", "voice_to_voice_s"),
        ):
            if worker.get(stage) is not None:
                hops[hop] = anchor + float(worker[stage])
    if worker.get("agent_started_at") is not None:
        hops["worker_audio_out"] = float(worker["agent_started_at"]) - stopped_at
    for hop, asked, stage in ((("llm", llm, "llm_ttft_s")), ("tts", tts, "tts_ttfb_s")):
        if asked is not None:
            hops[f"{hop}_asked"] = asked - stopped_at
            if worker.get(stage) is not None:
                first = "llm_first_token" if hop == "llm" else "tts_first_audio"
                hops[first] = asked - stopped_at + float(worker[stage])
    if final is not None:
        hops["azure_final"] = final - stopped_at
    if reply_s is not None:
        hops["phone_audio"] = reply_s
    return hops


def p50_p95(values: list[float]) -> tuple[str, str]:
    if not values:
        return "-", "-"
    p50, p95 = np.percentile(values, [50, 95]).tolist()
    return f"{p50:.2f} s", f"{p95:.2f} s"


def report(turns: list[TurnHops], own: float) -> dict[str, list[float]]:
    """Print each turn's hops and their p50/p95; returns the platform's own parts per turn."""
    for t in turns:
        if t.failure:
            console.print(f"[red]call {t.call} turn {t.turn}:[/] {t.failure}")
            continue
        chain = "  ".join(f"{name}={t.hops[name]:.2f}" for name, _ in HOPS if name in t.hops)
        console.print(f"call {t.call} turn {t.turn}: {chain}", soft_wrap=True)
    table = Table(title="voice to voice, hop by hop (seconds after the caller's last voice)")
    for column in ("hop", "p50", "p95"):
        table.add_column(column, justify="left" if column == "hop" else "right")
    for name, label in HOPS:
        table.add_row(label, *p50_p95([t.hops[name] for t in turns if name in t.hops]))
    console.print(table)
    print_phone(console, [(t.call, t.phone) for t in turns])
    return print_platform(console, [t.hops for t in turns], own)


@app.command()
def main(
    turns: Annotated[int, typer.Option(min=1, max=60, help="Caller lines in each call.")] = 5,
    calls: Annotated[int, typer.Option(min=1, help="Calls, one after another.")] = 1,
    llm_s: Annotated[float, typer.Option("--llm", help="LLM fake's first token (s).")] = 0.3,
    tts_s: Annotated[float, typer.Option("--tts", help="TTS fake's first audio (s).")] = 0.3,
    stt_final_s: Annotated[
        float, typer.Option("--stt-final", help="Azure fake's final after speech (s).")
    ] = 1.0,
    vad_silence: Annotated[
        float | None, typer.Option(help="turn.vad_min_silence_s (default: the persona's, 0.25 s).")
    ] = None,
    wait_for_final: Annotated[
        bool, typer.Option(help="stt.end_turn_on_interim false: turns wait for Azure's final.")
    ] = False,
    json_out: Annotated[Path | None, typer.Option("--json", help="Raw numbers here.")] = None,
    run_dir: Annotated[Path, typer.Option(help="The stack's run directory.")] = ROOT
    / ".run"
    / "bench-voice-hops",
) -> None:
    """Place CALLS calls of TURNS caller lines to a cloud persona on fakes; print each hop."""
    run_dir = run_dir.resolve()
    agents = run_dir / "agents"
    agents.mkdir(parents=True, exist_ok=True)
    turn = {"min_endpointing_s": 0.4, "max_endpointing_s": 3.0, "detection": "vad"}
    if vad_silence is not None:
        turn["vad_min_silence_s"] = vad_silence
    span = speech_span(rendered(CALLER_TEXT, run_dir / "calls" / "wav"))
    scenario = Scenario(persona=PERSONA, turns=tuple(Turn(say=CALLER_TEXT) for _ in range(turns)))
    expected = Outcome(greeting=GREETING, replies=[QUESTION] * turns)
    results: list[TurnHops] = []
    tap = RtpTap()
    if not tap.start():
        console.print(f"[yellow]{tap.error}: network hops not measured[/]")
    with fakes_running(llm_s=llm_s, tts_s=tts_s, stt_final_s=stt_final_s) as fakes:
        persona = bench_persona(fakes, turn, on_interim=not wait_for_final)
        (agents / f"{PERSONA}.yaml").write_text(yaml.safe_dump(persona))
        # a mistake in the persona fails here, not mid-call
        silence = vad_silence_s(load_persona(PERSONA, agents_dir=agents))
        env = {
            "AGENTS_DIR": str(agents),
            "OPENAI_API_KEY": fakes.cloud.openai_key,
            "AZURE_SPEECH_KEY": fakes.cloud.azure_speech_key,
        }
        with (
            console.status("starting the stack") as status,
            running_stack(run_dir, env=env) as stack,
        ):
            for index in range(1, calls + 1):
                status.update(f"call {index}/{calls}: {turns} turns")
                results += one_call(scenario, stack, run_dir, index, expected, span, fakes, tap)
                time.sleep(1.0)
            status.update("stopping the stack")
    tap.stop()
    own = turn["min_endpointing_s"] + llm_s + tts_s
    platform = report(results, own)
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    console.print(
        f"set: LLM {llm_s:.2f} s, TTS {tts_s:.2f} s, Azure final {stt_final_s:.2f} s after "
        f"speech; endpointing {turn['min_endpointing_s']:.2f} s (vad, VAD silence "
        f"{silence:.2f} s); end_turn_on_interim "
        f"{not wait_for_final}; {os.cpu_count()} CPUs, "
        f"load average {load}; logs: {run_dir}"
    )
    if json_out is not None:
        raw = {
            "turns": [asdict(t) for t in results],
            "platform_s": platform["played"],
            "platform_network_s": platform["network"],
            "phone_receive_s": platform["phone_receive"],
            "own_set_s": own,
            "load": os.getloadavg(),
        }
        json_out.write_text(json.dumps(raw, indent=2))


def one_call(
    scenario: Scenario,
    stack: Any,
    run_dir: Path,
    index: int,
    expected: Outcome,
    span: tuple[float, float],
    fakes: Fakes,
    tap: RtpTap,
) -> list[TurnHops]:
    agents = run_dir / "agents"
    try:
        outcome = run_call(
            scenario, stack, run_dir / "calls" / f"call-{index:02d}", expected=expected,
            agents_dir=agents,
        )  # fmt: skip
    except (ScenarioError, PhoneError) as err:
        return [TurnHops(call=index, turn=0, failure=str(err))]
    call = outcome.call
    if call is None or call.media_active_at is None:
        return [TurnHops(call=index, turn=0, failure="call not answered")]
    worker_turns = (outcome.record or {}).get("turns", [])
    results = []
    for timing, play in zip(measure(call, index, span), call.plays, strict=False):
        stopped_at = play.started_at + span[1]
        worker = worker_turns[timing.turn - 1] if timing.turn <= len(worker_turns) else {}
        hops = turn_hops(stopped_at, timing.reply_s, worker, fakes)
        if call.rtp_local is not None:
            hops |= network_hops(tap.packets, call.rtp_local, play, stopped_at)
        phone = call.receive_stats if timing.turn == 1 else {}
        results.append(
            TurnHops(call=index, turn=timing.turn, hops=hops, failure=timing.failure, phone=phone)
        )
    return results


if __name__ == "__main__":
    app()
