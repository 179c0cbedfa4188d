"""Capacity benchmark: how many simultaneous calls one box sustains.

Starts one real stack (`start.py up --dev --auto-ports`, one worker that takes every call),
then places rounds of simultaneous calls: 1 (three rounds, the baseline), then 2, 3, 4, ...
(two rounds each; `--step 2`: 2, 4, 6, ...). Each call is the `first_call` dialogue:
greeting, the caller says "Tuesday" 7 s after media starts, the reply. It stops at the first
level where a call fails (not answered, no greeting, no reply, ...). It prints two
capacities: the most simultaneous calls whose voice-to-voice reply p95 stays within 20 % of a
single call's, and the most without a failed call. It prints numbers; it never asserts.

    .venv/bin/python -m bench.capacity                 # the offline demo persona
    .venv/bin/python -m bench.capacity --cloud         # speech and LLM behind local fakes

`--cloud` runs a persona whose STT (OpenAI), LLM (OpenAI) and TTS (Azure) are the real
plugins pointed at `tests/support/cloud_fakes.py` in this process, answering after
`--cloud-latency` seconds: in production speech and language run off the box, so the box only
carries media, VAD and the agent loop.

CPU and PSS are sampled each second per part of the stack (`bench.process_tree`: livekit-sip,
livekit-server, the worker's main, inference and call processes, Redis, the API, the
dispatcher), and printed per added call; the fakes and the phones are a part of their own.
During the first round at `--profile-at` calls, py-spy records the busiest call process
(`bench.call_profile`) into the run folder. The worker keeps one warm call process per line
(`WORKER_IDLE_PROCESSES` defaults to `MAX_CALLS_PER_WORKER`, set here to `--max-calls`).
"""

from __future__ import annotations

import json
import os
import time
from contextlib import ExitStack
from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import psutil
import typer
from rich.console import Console

from bench.call_profile import CallProfile
from bench.capacity_levels import P95_GROWTH, Level, Round, report, report_hops, sustained
from bench.first_call import CALLER_LINE, CallTiming, measure, speech_span
from bench.process_tree import PARTS, SAMPLE_S, PartSampler
from bench.reply_hops import fetch_records, phone_replies, split, worker_replies
from callcheck.phone import PhoneError, PhoneProcess, start_dialing
from callcheck.phone_cli import MAX_CALLS
from dialroom.paths import ROOT
from tests.support.cloud_fakes import FakeCloud
from tests.support.cloud_persona import CLOUD_PERSONA, cloud_persona
from tests.support.free_lines import wait_for_free_lines
from tests.support.stack import RunningStack, start_stack

PLAY_AT_S = 7.0  # the caller speaks this long after media starts (the greeting is over)
HANG_UP_S = 25.0  # the phone's own hang-up; the demo persona hangs up before
STOP_TIMEOUT_S = 180.0  # the worker drains first (WORKER_DRAIN_S, 60 s by default)
GIVE_UP = 3.0  # a level this much slower ends the run even without a failed call
CLOUD_REPLY = "Great, I have you down for Tuesday. Thank you for calling, goodbye!"
PROFILE_DELAY_S = 4.0  # after dialing: the calls are up and the greeting is playing
PROFILE_S = 16.0  # covers the end of the greeting, the caller's line and the reply
LINES_FREE_WITHIN_S = 30.0  # the last round's jobs end well within this (no drain: no calls)

console = Console(width=max(Console().width, 150))
app = typer.Typer(add_completion=False)


def busiest_call_process(sampler: PartSampler) -> int | None:
    """The busiest call process that is in a call: one with a UDP socket (its room's WebRTC
    media). Among all of them the busiest was sometimes a warm process that had just
    started (the pool replaces each one that took a job) and sat idle through the window."""
    latest = sampler.latest()
    if latest is None:
        return None
    in_call = [pid for pid in latest.call_cpu if in_a_call(pid)]
    return max(in_call, key=lambda pid: latest.call_cpu[pid], default=None)


def in_a_call(pid: int) -> bool:
    try:
        return bool(psutil.Process(pid).net_connections(kind="udp"))
    except psutil.Error:
        return False


def lines_free_again(stack: RunningStack, lines: int) -> int:
    """A job of the last round still holding a line would turn a call of the next away with
    a 486, a failure of the bench rather than of the box: wait for every line first."""
    return wait_for_free_lines(stack, lines, within_s=LINES_FREE_WITHIN_S)


def _measured(
    phone: PhoneProcess, *, first: int, calls: int, span: tuple[float, float]
) -> list[CallTiming]:
    """The timings of a phone's calls, numbered from `first`; all failed if the phone did."""
    try:
        result = phone.result(HANG_UP_S + 40)
    except PhoneError as err:
        return [CallTiming(call=first + i, failure=f"phone: {err}") for i in range(calls)]
    timings = [measure(call, first + i, span) for i, call in enumerate(result.calls)]
    why = f"phone: {result.error or 'call never placed'}"
    return timings + [CallTiming(call=first + i, failure=why) for i in range(len(timings), calls)]


def caller_of(first: int) -> str:
    """The number a phone calls from: its own, so that its calls find their records."""
    return f"caller{first:02d}"


def run_round(
    stack: RunningStack,
    sampler: PartSampler,
    calls: int,
    folder: Path,
    *,
    hang_up_expected: bool,
    calls_per_phone: int = 1,
    profile: CallProfile | None = None,
) -> Round:
    with sampler:
        time.sleep(3 * SAMPLE_S)
    idle = sampler.window
    caller_span = speech_span(CALLER_LINE)
    folder.mkdir(parents=True, exist_ok=True)
    began = time.time()
    with sampler, ExitStack() as phones:
        groups = [
            (first, min(calls_per_phone, calls - first + 1))
            for first in range(1, calls + 1, calls_per_phone)
        ]
        started = [
            (
                phones.enter_context(
                    start_dialing(
                        stack.state.sip_uri,
                        result_dir=folder,
                        play=[(CALLER_LINE, PLAY_AT_S)],
                        record=folder / f"call-{first:02d}.wav",
                        hangup_after=HANG_UP_S,
                        timeout=HANG_UP_S + 20,
                        calls=placed,
                        from_user=caller_of(first),
                    )
                ),
                first,
                placed,
            )
            for first, placed in groups
        ]
        if profile is not None:
            profile.start(lambda: busiest_call_process(sampler))
        timings = []
        for phone, first, placed in started:
            timings += _measured(phone, first=first, calls=placed, span=caller_span)
        if profile is not None:
            profile.join()
    for timing in timings:
        if not hang_up_expected and (timing.failure or "").startswith("agent replied but"):
            timing.failure = None  # this persona never hangs up: the phone does
    busy = sampler.window
    callers = {first + i: caller_of(first) for _, first, placed in started for i in range(placed)}
    answered = sum(t.media_active_at is not None for t in timings)
    with stack.api_client() as api:
        records = fetch_records(api, since=began, calls=answered)
    return Round(
        calls=calls,
        timings=timings,
        cpu={p: busy.cpu(p) for p in PARTS},
        idle_cpu={p: idle.cpu(p) for p in PARTS},
        wait={p: busy.wait(p) for p in PARTS},
        pss={p: busy.pss(p) for p in PARTS},
        idle_pss={p: idle.mean_pss(p) for p in PARTS},
        stack_pss=busy.stack_pss(),
        idle_stack_pss=idle.stack_pss(),
        call_processes=busy.call_processes(),
        failures=[f"call {t.call}: {t.failure}" for t in timings if t.failure],
        hops=split(phone_replies(timings, callers), worker_replies(records)),
    )


@app.command()
def main(
    max_calls: Annotated[int, typer.Option(min=1, help="Stop after this many at once.")] = 8,
    cloud: Annotated[bool, typer.Option(help="Speech and LLM behind local cloud fakes.")] = False,
    cloud_latency: Annotated[
        float, typer.Option(help="Seconds each fake waits before its first byte.")
    ] = 0.3,
    step: Annotated[int, typer.Option(min=1, help="Calls added per level after 1.")] = 1,
    rounds: Annotated[int, typer.Option(min=1, help="Rounds of each number of calls.")] = 2,
    baseline_rounds: Annotated[int, typer.Option(min=1, help="Rounds of a single call.")] = 3,
    profile_at: Annotated[
        int, typer.Option(min=1, help="Profile a call process at this many calls (or the most).")
    ] = 8,
    calls_per_phone: Annotated[
        int,
        typer.Option(
            min=1,
            max=MAX_CALLS,
            help="Calls each phone process places, at once (up to 4: less CPU for the bench, "
            "but INVITEs in fours, not spread as phones starting one after another).",
        ),
    ] = 1,
    cpu_waits: Annotated[
        bool,
        typer.Option(
            help="Also print each part's wait for a CPU (the kernel's run_delay of every "
            "thread, read each second: ~2 % of a core at 12 calls, in the bench's part)."
        ),
    ] = False,
    json_out: Annotated[Path | None, typer.Option("--json", help="Raw numbers here.")] = None,
    run_dir: Annotated[Path, typer.Option(help="The stack's run directory.")] = ROOT
    / ".run"
    / "bench-capacity",
) -> None:
    """Place rounds of 1, 2, 3, ... simultaneous calls until one fails (or replies crawl)."""
    run_dir = run_dir.resolve()
    quiet_load = ", ".join(f"{x:.2f}" for x in os.getloadavg())  # before this run adds its own
    env = {"MAX_CALLS_PER_WORKER": str(max_calls)}  # warm processes: one per line, the default
    counts = sorted({1, *range(step, max_calls + 1, step), max_calls})
    profile_at = min((c for c in counts if c >= profile_at), default=max_calls)
    profile = CallProfile(run_dir, delay_s=PROFILE_DELAY_S, duration_s=PROFILE_S)
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
            sampler = PartSampler(stack.run_dir, waits=cpu_waits)
            levels: list[Level] = []
            baseline: float | None = None
            for calls in counts:
                level = Level(calls=calls, rounds=[])
                levels.append(level)
                for index in range(baseline_rounds if calls == 1 else rounds):
                    status.update(f"{calls} simultaneous call(s), round {index + 1}")
                    folder = run_dir / "calls" / f"{calls:02d}-calls-round-{index + 1}"
                    profiling = profile if calls == profile_at and index == 0 else None
                    level.rounds.append(
                        run_round(
                            stack,
                            sampler,
                            calls,
                            folder,
                            hang_up_expected=not cloud,
                            calls_per_phone=calls_per_phone,
                            profile=profiling,
                        )
                    )
                    free = lines_free_again(stack, max_calls)
                    if free < max_calls:
                        late = f"{LINES_FREE_WITHIN_S:.0f} s after the round"
                        console.print(f"[yellow]{free} of {max_calls} lines free {late}")
                if calls == 1:
                    baseline = level.reply_p95
                p95 = level.reply_p95
                if level.failures or (baseline and p95 and p95 > GIVE_UP * baseline):
                    break
            status.update("stopping the stack")
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    label = f"cloud fakes, {cloud_latency:.2f} s latency" if cloud else "local demo persona"
    report(levels, f"capacity: {label}")
    report_hops(levels)
    within_p95 = sustained(levels, baseline, p95=True)
    no_drops = sustained(levels, baseline, p95=False)
    last = levels[-1]
    console.print(
        f"sustained within {P95_GROWTH:.1f} x the single call's reply p95"
        + (f" ({baseline:.2f} s)" if baseline else "")
        + f": {within_p95} call(s); without a failed call: {no_drops}"
        + (f" (at {last.calls}: {'; '.join(last.failures)})" if last.failures else "")
        + f"; {os.cpu_count()} CPUs, load average {quiet_load} at the start, {load} at the end"
    )
    if profile.summary:
        console.print(f"profile at {profile_at} calls: {profile.summary}", highlight=False)
    console.print(f"recordings, logs and profile: {run_dir}")
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
