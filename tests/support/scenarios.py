"""The test suite's side of scenario files (`tests/scenarios/*.yaml`; the file model and
`check` are `callcheck.scenario`). One file runs two ways here:

- text mode (`run_text`): the persona's real AgentSession with no audio;
- over a real SIP call to a test stack (`run_call`): the phone plays each line (rendered by
  piper) at times taken from the text run, records the agent, and Whisper transcribes the
  recording cut at the caller's lines. Tool calls come from the worker's call record in the
  stack's Redis, grouped by the caller line they followed. (`start.py check-call` calls by ear
  instead, for stacks it knows nothing about: `callcheck.check`.)

A persona is looked up in `tests/scenarios/agents/` (test personas) and then in `agents/`.
"""

from __future__ import annotations

import hashlib
import json
import time
import wave
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import redis
from faster_whisper.audio import decode_audio

from callcheck import text_run
from callcheck.phone import dial
from callcheck.record import tool_calls_by_line
from callcheck.scenario import Outcome, Scenario, ScenarioError
from dialroom.calls import CALL_KEY, CALLS_BY_END
from dialroom.paths import AGENTS_DIR, ROOT
from dialroom.persona import load_persona
from tests.support.fixtures import render_fixture
from tests.support.stack import RunningStack
from worker.providers.local_stt import WHISPER_SAMPLE_RATE, transcribe_audio

SCENARIOS_DIR = ROOT / "tests" / "scenarios"
TEST_AGENTS_DIR = SCENARIOS_DIR / "agents"
DEFAULT_PERSONA = "demo"  # what a call to the stack's plain number gets (start_stack's default)

# Call timing: each caller line waits for the agent's previous speech, whose length is known
# from the text run (piper renders the same words the worker will say).
GREETING_LEAD_S = 1.5  # media active -> greeting starts (about 0.8 s measured; slack for load)
REPLY_WAIT_S = 3.0  # caller's line over -> reply starts (bench: p95 1.5 s; slack for load)
GAP_S = 1.0  # silence left between the agent's speech and the caller's next line
HANGUP_GRACE_S = 6.0  # after the last expected reply, the phone hangs up itself


def scenario_files(folder: Path = SCENARIOS_DIR) -> list[Path]:
    return sorted(folder.glob("*.yaml"))


def agents_dir_for(persona: str) -> Path:
    return TEST_AGENTS_DIR if (TEST_AGENTS_DIR / f"{persona}.yaml").is_file() else AGENTS_DIR


async def run_text(scenario: Scenario, *, agents_dir: Path | None = None) -> Outcome:
    """The scenario in text mode, its persona looked up among the test personas first."""
    return await text_run.run_text(
        scenario, agents_dir=agents_dir or agents_dir_for(scenario.persona)
    )


def wav_seconds(path: Path) -> float:
    with wave.open(str(path), "rb") as w:
        return w.getnframes() / w.getframerate()


def rendered(text: str, folder: Path) -> Path:
    """`text` spoken by piper as phone audio in `folder` (cached by content): a caller line, or
    the agent's expected words (to know how long they take to say)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{hashlib.sha1(text.encode()).hexdigest()[:12]}.wav"
    if not path.is_file():
        render_fixture(text, path)
    return path


def line_schedule(
    greeting: str, lines: Sequence[str], replies: Sequence[str], folder: Path
) -> tuple[list[tuple[Path, float]], float]:
    """When to play each caller line (seconds after media is active), and when to give up."""
    plays: list[tuple[Path, float]] = []
    at = GREETING_LEAD_S + wav_seconds(rendered(greeting, folder)) + GAP_S
    for i, line in enumerate(lines):
        wav = rendered(line, folder)
        plays.append((wav, at))
        reply = replies[i] if i < len(replies) else ""
        reply_s = wav_seconds(rendered(reply, folder)) if reply else 0.0
        at += wav_seconds(wav) + REPLY_WAIT_S + reply_s + GAP_S
    return plays, at + HANGUP_GRACE_S


def call_uri(stack: RunningStack, persona: str, agents_dir: Path) -> str:
    """The address that reaches `persona`: its first number, or the stack's default line."""
    numbers = load_persona(persona, agents_dir=agents_dir).numbers
    if numbers:
        return stack.state.sip_uri.replace("sip:1000@", f"sip:{numbers[0]}@")
    if persona == DEFAULT_PERSONA:
        return stack.state.sip_uri
    raise ScenarioError(f"persona '{persona}' has no `numbers:`; give it one to call it")


def run_call(
    scenario: Scenario,
    stack: RunningStack,
    work_dir: Path,
    *,
    expected: Outcome,
    agents_dir: Path | None = None,
) -> Outcome:
    """Play the scenario's lines into a real call to `stack`, timed after `expected` (its text
    run), and transcribe what the agent said between them. Tool calls come from the call
    record, where the worker writes them."""
    lines = [turn.say for turn in scenario.turns]
    plays, give_up_s = line_schedule(expected.greeting, lines, expected.replies, work_dir / "wav")
    uri = call_uri(stack, scenario.persona, agents_dir or agents_dir_for(scenario.persona))
    with redis.Redis(port=stack.redis_port) as client:
        before = set(client.zrange(CALLS_BY_END, 0, -1))
        call = dial(
            uri,
            result_dir=work_dir,
            play=plays,
            record=work_dir / "heard.wav",
            hangup_after=give_up_s,
            timeout=give_up_s + 15.0,
        ).call
        if not call.connected or call.recording is None or call.media_active_at is None:
            raise ScenarioError(f"call not answered: {call.status_code} {call.reason}")
        record = new_call_record(client, before)
    audio = decode_audio(str(call.recording), WHISPER_SAMPLE_RATE)
    cuts = [round((p.started_at - call.media_active_at) * WHISPER_SAMPLE_RATE) for p in call.plays]
    pieces = [audio[a:b] for a, b in zip([0, *cuts], [*cuts, len(audio)], strict=True)]
    said = [transcribe_audio(piece) if len(piece) else "" for piece in pieces]
    return Outcome(
        greeting=said[0],
        replies=said[1:],
        tools=tool_calls_by_line(record, [p.started_at for p in call.plays]),
        hung_up=call.remote_hangup,
        heard=transcribe_audio(audio),
        call=call,
        record=record,
    )


def new_call_record(
    client: redis.Redis, before: set[bytes], timeout: float = 20.0
) -> dict[str, Any]:
    """The record of the one call that ended since `before` (the worker writes it as the call
    ends, which can be a moment after the phone hung up)."""
    deadline = time.monotonic() + timeout
    while not (new := set(client.zrange(CALLS_BY_END, 0, -1)) - before):
        if time.monotonic() > deadline:
            raise ScenarioError("the worker wrote no call record")
        time.sleep(0.25)
    return json.loads(client.get(CALL_KEY.format(call_id=new.pop().decode())) or "{}")
