"""Personas that do more, over real SIP calls. A hand-off: the caller dials the triage line
and says they want to book; the triage persona says it puts them through, the booking persona
takes over the same call with its own greeting and steps, and the call record shows each
persona's part. A returning caller: the second call from a number hears what the first one
settled, read by the worker from the call history the archiver wrote."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis

from callcheck.phone import dial
from dialroom.calls import CALL_KEY, CALLS_BY_END
from tests.support.fixtures import FIXTURES_DIR, render_fixture
from tests.support.handoff_personas import write_personas
from tests.support.stack import RunningStack, start_stack
from worker.providers.local_stt import transcribe_wav

pytestmark = pytest.mark.e2e

REGULAR = {  # remembers its callers: the greeting says what their last call settled
    "numbers": ["2203"],
    "greeting": {"inbound": "Hello. {caller_memory} Which day suits you?"},
    "memory": {"keep_days": 30},
    "post_call": {"summary": True, "extract": {"day": "string"}},
    "flow": [
        {"collect": "day", "choices": ["monday", "tuesday", "friday"]},
        {"say": "See you on {day}. Goodbye!", "end_call": True},
    ],
}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    agents = write_personas(tmp_path_factory.mktemp("agents"), regular=REGULAR)
    (agents / "demo.yaml").write_text(Path("agents/demo.yaml").read_text())
    run_dir = tmp_path_factory.mktemp("handoff")
    env = {"AGENTS_DIR": str(agents), "DATABASE_URL": f"sqlite+aiosqlite:///{run_dir}/h.db"}
    running = start_stack(run_dir, env=env)
    yield running
    running.stop()


def test_triage_hands_a_caller_who_wants_to_book_to_the_booking_persona(
    stack: RunningStack, tmp_path: Path
) -> None:
    client = redis.Redis(port=stack.redis_port)
    before = set(client.zrange(CALLS_BY_END, 0, -1))
    book = tmp_path / "book.wav"
    render_fixture("I want to book, please.", book)
    heard = tmp_path / "heard.wav"
    result = dial(
        stack.state.sip_uri.replace("sip:1000@", "sip:2201@"),
        result_dir=tmp_path,
        play=[(book, 6.0), (FIXTURES_DIR / "caller_tuesday.wav", 20.0)],
        record=heard,
        hangup_after=45,
        timeout=60,
    )
    assert result.call.connected
    text = transcribe_wav(heard).lower()
    assert "front desk" in text and "put you through" in text, text
    assert "booking desk here" in text, f"the booking persona never answered: {text!r}"
    # What the phone heard goes through Whisper ("you are book for tuesday" happens); the
    # exact words are checked in the record below.
    assert "for tuesday" in text, f"the booking persona did not take the day: {text!r}"
    assert result.call.remote_hangup, "the booking persona hangs up after its goodbye"

    record = _new_record(client, before)
    assert record["persona"] == "triage" and record["outcome"] == "agent_hung_up", record
    parts = [(p["persona"], p["context"]) for p in record["personas"]]
    assert parts == [("triage", None), ("booking", "full")], record["personas"]
    assert 5.0 < record["personas"][1]["from_s"] < 30.0, record["personas"]
    said = {(line["persona"], line["role"], line["text"]) for line in record["transcript"]}
    assert ("booking", "agent", "You are booked for tuesday. Goodbye!") in said, said
    assert any(p == "triage" and r == "caller" and "book" in t.lower() for p, r, t in said), said


def _new_record(client: redis.Redis, before: set[bytes]) -> dict:
    deadline = time.monotonic() + 20
    while not (new := set(client.zrange(CALLS_BY_END, 0, -1)) - before):
        assert time.monotonic() < deadline, "the worker never recorded the call's end"
        time.sleep(0.25)
    return json.loads(client.get(CALL_KEY.format(call_id=new.pop().decode())) or "{}")


def test_a_returning_caller_is_greeted_with_what_their_last_call_settled(
    stack: RunningStack, client: httpx.Client, tmp_path: Path
) -> None:
    uri = stack.state.sip_uri.replace("sip:1000@", "sip:2203@")
    first = dial(
        uri,
        result_dir=tmp_path / "first",
        play=[(FIXTURES_DIR / "caller_tuesday.wav", 4.0)],
        hangup_after=30,
        timeout=45,
    )
    assert first.call.connected and first.call.remote_hangup, "the first call ends with goodbye"
    number = _remembered_number(client)
    heard = tmp_path / "second.wav"
    dial(uri, result_dir=tmp_path / "second", record=heard, hangup_after=14, timeout=30)
    text = transcribe_wav(heard).lower()
    assert "tuesday" in text and "which day" in text, f"no memory in the greeting: {text!r}"
    assert client.delete(f"/api/callers/{number}/memory").status_code == 204


def _remembered_number(client: httpx.Client) -> str:
    """The caller's number once the archiver has kept the first call's note."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        calls = client.get("/api/calls", params={"persona": "regular"}).json()["calls"]
        number = calls[0].get("caller_number") if calls else None
        if number and client.get(f"/api/callers/{number}/memory").json()["notes"]:
            return str(number)
        time.sleep(0.5)
    raise AssertionError("the first call's note was never kept")
