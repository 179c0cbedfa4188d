"""Scenario files (`tests/scenarios/*.yaml`): a persona, what the caller says, and what the
caller should hear and the agent should do. One file runs two ways:

- text mode (`run_text`): the persona's real AgentSession with no audio, the same session as
  `python start.py chat`; tool calls are visible, so they are checked turn by turn;
- over a real SIP call (`run_call`): the phone plays each line (rendered by piper), records
  the agent, and Whisper transcribes the recording cut at the caller's lines. Tool calls come
  from the worker's call record, grouped by the caller line they followed; hanging up is the
  far end ending the call.

A persona is looked up in `tests/scenarios/agents/` (test personas) and then in `agents/`.
"""

from __future__ import annotations

import bisect
import hashlib
import json
import re
import time
import wave
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis
import yaml
from faster_whisper.audio import decode_audio
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from dialroom.calls import CALL_KEY, CALLS_BY_END
from dialroom.paths import AGENTS_DIR, ROOT
from dialroom.persona import load_persona
from tests.support.fixtures import render_fixture
from tests.support.phone import CallResult, dial
from tests.support.stack import RunningStack
from worker.chat import open_chat
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


class ScenarioError(Exception):
    """A scenario file that cannot be used, with where and why."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Turn(_Strict):
    say: str = Field(min_length=1, description="what the caller says")
    heard: tuple[str, ...] = Field(default=(), description="words the reply must contain")
    tools: tuple[str, ...] | None = Field(
        default=None, description="exactly these tool calls, in order ([] = none); unset: any"
    )


class Scenario(_Strict):
    persona: str
    about: str = ""
    greeting: tuple[str, ...] = Field(default=(), description="words the greeting contains")
    turns: tuple[Turn, ...] = Field(min_length=1)
    heard: tuple[str, ...] = Field(default=(), description="words heard anywhere")
    tools: tuple[str, ...] = Field(default=(), description="tools called somewhere")
    hangs_up: bool | None = Field(
        default=None,
        description="true: the agent ends the call after the last line (not "
        "before); false: it never does; unset: not checked",
    )
    mocks: dict[str, str] | None = Field(
        default=None, description="text mode: canned tool answers ({} = the default answer)"
    )


@dataclass
class Outcome:
    """What happened in one run; `tools` is None where tool calls cannot be seen (a call)."""

    greeting: str
    replies: list[str] = field(default_factory=list)  # one per caller line actually said
    tools: list[tuple[str, ...]] | None = None
    hung_up: bool = False
    heard: str = ""  # everything the agent said, as one text
    call: CallResult | None = None
    record: dict[str, Any] | None = None  # the worker's call record (JSON), for a real call


def load_scenario(path: Path) -> Scenario:
    try:
        data = yaml.safe_load(path.read_text())
        return Scenario.model_validate(data)
    except yaml.YAMLError as err:
        raise ScenarioError(f"{path.name}: not valid YAML ({err})") from err
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ScenarioError(f"{path.name}: {where}: {first['msg']}") from err


def scenario_files(folder: Path = SCENARIOS_DIR) -> list[Path]:
    return sorted(folder.glob("*.yaml"))


def agents_dir_for(persona: str) -> Path:
    return TEST_AGENTS_DIR if (TEST_AGENTS_DIR / f"{persona}.yaml").is_file() else AGENTS_DIR


def words(text: str) -> str:
    """Lower case, punctuation gone, single spaces: what expected words are matched in."""
    return " ".join(re.findall(r"[a-z0-9']+", text.lower()))


def _missing(expected: Sequence[str], text: str) -> list[str]:
    said = f" {words(text)} "
    return [w for w in expected if f" {words(w)} " not in said]


def check(scenario: Scenario, outcome: Outcome) -> list[str]:
    """Every way `outcome` falls short of `scenario`, one sentence each; [] when it passes."""
    problems: list[str] = []
    if missing := _missing(scenario.greeting, outcome.greeting):
        problems.append(f"greeting lacks {missing}: {outcome.greeting!r}")
    for i, turn in enumerate(scenario.turns):
        if i >= len(outcome.replies):
            problems.append(f"the call ended before line {i + 1} ({turn.say!r})")
            break
        reply = outcome.replies[i]
        if missing := _missing(turn.heard, reply):
            problems.append(f"reply to line {i + 1} lacks {missing}: {reply!r}")
        if outcome.tools is not None and turn.tools is not None:
            if outcome.tools[i] != turn.tools:
                problems.append(
                    f"line {i + 1}: tools {list(outcome.tools[i])}, expected {list(turn.tools)}"
                )
    if missing := _missing(scenario.heard, outcome.heard):
        problems.append(f"never heard {missing}: {outcome.heard!r}")
    if outcome.tools is not None:
        called = {name for names in outcome.tools for name in names}
        if missing_tools := [t for t in scenario.tools if t not in called]:
            problems.append(f"never called {missing_tools} (called: {sorted(called)})")
    if scenario.hangs_up is not None and outcome.hung_up != scenario.hangs_up:
        problems.append("the agent did not hang up" if scenario.hangs_up else "the agent hung up")
    return problems


async def run_text(scenario: Scenario, *, agents_dir: Path | None = None) -> Outcome:
    """Talk the scenario through the persona's real session, text only."""
    agents_dir = agents_dir or agents_dir_for(scenario.persona)
    async with open_chat(scenario.persona, mocks=scenario.mocks, agents_dir=agents_dir) as chat:
        greeting = await chat.greet()
        outcome = Outcome(greeting=greeting.text, tools=[])
        for turn in scenario.turns:
            if chat.ended:
                break
            reply = await chat.send(turn.say)
            outcome.replies.append(reply.text)
            assert outcome.tools is not None
            outcome.tools.append(tuple(tool.name for tool in reply.tools))
        outcome.hung_up = chat.ended
    outcome.heard = " ".join([outcome.greeting, *outcome.replies])
    return outcome


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


def tool_calls_by_line(
    record: dict[str, Any], line_starts: Sequence[float]
) -> list[tuple[str, ...]] | None:
    """The record's tool calls, grouped by the caller line they followed; None when the record
    keeps no tool calls."""
    if "tool_calls" not in record:
        return None
    per_line: list[list[str]] = [[] for _ in line_starts]
    for tool in record["tool_calls"]:
        line = bisect.bisect_right(line_starts, tool["at"]) - 1
        if line >= 0:
            per_line[line].append(tool["name"])
    return [tuple(names) for names in per_line]
