"""Call limits and number routing over real SIP calls: a silent caller is re-prompted then
let go politely; a call reaching `max_call_s` ends with the closing line. Each persona is
reached by dialling one of its `numbers`."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from callcheck.phone import dial
from dialroom.calls import CALL_KEY, CALLS_BY_END
from tests.support.stack import RunningStack, start_stack
from worker.providers.local_stt import transcribe_wav

pytestmark = pytest.mark.e2e

FLOW = """
stt: {provider: local}
llm: {provider: flow}
tts: {provider: local}
flow:
  - collect: day
    choices: [monday, tuesday]
  - say: "Thanks, goodbye."
    end_call: true
"""
PERSONAS = {
    "quiet": FLOW
    + """
numbers: ["2001"]
greeting: {inbound: "Hello, this is the quiet line."}
limits:
  silence: {reprompt_after_s: 2.5, reprompts: 1, message: "Are you still there?",
            goodbye: "I can't hear you, so goodbye for now."}
""",
    "brief": FLOW
    + """
numbers: ["2002"]
greeting: {inbound: "Hello, this is the brief line."}
limits:
  max_call_s: 6
  closing: "Sorry, our time is up. Goodbye."
  silence: {reprompt_after_s: 60}
""",
}


@pytest.fixture(scope="module")
def limits_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    agents = tmp_path_factory.mktemp("agents")
    for name, text in PERSONAS.items():
        (agents / f"{name}.yaml").write_text(text)
    (agents / "demo.yaml").write_text(Path("agents/demo.yaml").read_text())
    running = start_stack(tmp_path_factory.mktemp("limits"), env={"AGENTS_DIR": str(agents)})
    yield running
    running.stop()


def call_number(stack: RunningStack, number: str, tmp_path: Path) -> tuple[str, dict]:
    client = redis.Redis(port=stack.redis_port)
    before = set(client.zrange(CALLS_BY_END, 0, -1))
    uri = stack.state.sip_uri.replace("sip:1000@", f"sip:{number}@")
    heard = tmp_path / "heard.wav"
    result = dial(uri, result_dir=tmp_path, record=heard, hangup_after=45, timeout=60)
    assert result.call.status_code == 200
    assert result.call.remote_hangup, "the agent should end the call"
    deadline = time.monotonic() + 20
    while not (new := set(client.zrange(CALLS_BY_END, 0, -1)) - before):
        assert time.monotonic() < deadline, "no call record"
        time.sleep(0.25)
    record = json.loads(client.get(CALL_KEY.format(call_id=new.pop().decode())) or "{}")
    return transcribe_wav(heard).lower(), record


def test_silent_caller_is_reprompted_then_let_go(
    limits_stack: RunningStack, tmp_path: Path
) -> None:
    text, record = call_number(limits_stack, "2001", tmp_path)
    assert "quiet line" in text, f"routed to the wrong persona: {text!r}"
    assert text.count("still there") == 1, text
    assert "goodbye for now" in text, text
    assert record["persona"] == "quiet" and record["outcome"] == "caller_silent"


def test_call_ends_at_max_call_s_with_the_closing_line(
    limits_stack: RunningStack, tmp_path: Path
) -> None:
    text, record = call_number(limits_stack, "2002", tmp_path)
    assert "brief line" in text and "time is up" in text, text
    assert record["persona"] == "brief" and record["outcome"] == "max_duration"
    assert record["ended_at"] - record["started_at"] < 15


def test_unlisted_number_gets_the_trunk_default(limits_stack: RunningStack, tmp_path: Path) -> None:
    uri = limits_stack.state.sip_uri.replace("sip:1000@", "sip:3999@")
    heard = tmp_path / "heard.wav"
    dial(uri, result_dir=tmp_path, record=heard, hangup_after=6, timeout=30)
    assert "demo" in transcribe_wav(heard).lower()
