"""Warm transfer over real SIP calls: the caller asks for a person, is put on hold, a second
phone (the human, reached through the dev outbound trunk) is dialled and briefed, says yes,
and is moved into the caller's call, where the two hear each other.

The persona is a flow persona, so its briefing is said by rule (BriefingLLM); an LLM persona
would brief with its own model through the same WarmTransferTask.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis
import yaml

from callcheck.phone import PhoneResult, dial, start_answering
from dialroom.calls import CALL_KEY, CALLS_BY_END
from tests.support.fixtures import render_fixture
from tests.support.stack import RunningStack, start_stack
from worker.providers.local_stt import transcribe_wav

pytestmark = pytest.mark.e2e

HUMAN_NUMBER = "+15551230000"
BRIEFING = "Hello, I have a caller who asked for the operator. Shall I connect them?"
PERSONA = {
    "stt": {"provider": "local"},
    "llm": {"provider": "flow"},
    "tts": {"provider": "local"},
    "numbers": ["2104"],
    "greeting": {
        "inbound": "Hello, this is the front line. Ask for the operator to reach a person."
    },
    "tools": {"transfer": {"to": f"tel:{HUMAN_NUMBER}", "warm": True, "briefing": BRIEFING}},
    "flow": [
        {"collect": "want", "choices": ["operator", "person", "human"]},
        {"say": "Please hold while I connect you.", "transfer": True},
    ],
}
LINES = {
    "operator.wav": "I would like to speak to the operator, please.",
    "hello.wav": "Hello this is Sam at the front desk.",
    "yes.wav": "Yes, please put them through.",
    "no.wav": "No, I am busy right now.",
    "to_caller.wav": "Hi there, this is Sam. I can help you with your booking.",
    "to_human.wav": "Thank you Sam. I would like to move it to Friday.",
}


@dataclass
class WarmStack:
    stack: RunningStack
    lines: Path
    human_port: int  # the dev outbound trunk points here


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def warm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WarmStack]:
    lines = tmp_path_factory.mktemp("lines")
    for name, text in LINES.items():
        render_fixture(text, lines / name)
    agents = tmp_path_factory.mktemp("agents")
    (agents / "warmdesk.yaml").write_text(yaml.safe_dump(PERSONA))
    (agents / "demo.yaml").write_text(Path("agents/demo.yaml").read_text())
    human_port = free_udp_port()
    env = {"AGENTS_DIR": str(agents), "SIP_DEV_OUTBOUND_ADDRESS": f"127.0.0.1:{human_port}"}
    stack = start_stack(tmp_path_factory.mktemp("warm"), env=env)
    yield WarmStack(stack=stack, lines=lines, human_port=human_port)
    stack.stop()


def new_call_record(stack: RunningStack, before: set[bytes]) -> dict:
    client = redis.Redis(port=stack.redis_port)
    deadline = time.monotonic() + 20
    while not (new := set(client.zrange(CALLS_BY_END, 0, -1)) - before):
        assert time.monotonic() < deadline, "the worker never recorded the call's end"
        time.sleep(0.25)
    return json.loads(client.get(CALL_KEY.format(call_id=new.pop().decode())) or "{}")


def test_warm_transfer_briefs_the_human_then_joins_them_to_the_caller(
    warm: WarmStack, tmp_path: Path
) -> None:
    before = set(redis.Redis(port=warm.stack.redis_port).zrange(CALLS_BY_END, 0, -1))
    human_heard = tmp_path / "human.wav"
    caller_heard = tmp_path / "caller.wav"
    with start_answering(
        warm.human_port,
        result_dir=tmp_path,
        play=[
            (warm.lines / "hello.wav", 0.5),  # answers the phone: the briefing follows
            (warm.lines / "yes.wav", 11.0),  # agrees: connect_to_caller
            (warm.lines / "to_caller.wav", 22.0),  # by now in the caller's call
        ],
        record=human_heard,
        hangup_after=45,
        max_calls=1,
        duration=120,
    ) as human_phone:
        caller = dial(
            warm.stack.state.sip_uri.replace("sip:1000@", "sip:2104@"),
            result_dir=tmp_path,
            play=[(warm.lines / "operator.wav", 6.0), (warm.lines / "to_human.wav", 44.0)],
            record=caller_heard,
            hangup_after=90,
            timeout=100,
        )
        human: PhoneResult = human_phone.result(timeout=60)

    assert human.invites and HUMAN_NUMBER in human.invites[0].request_uri, human.invites
    assert len(caller.calls) == 1 and caller.call.connected, "the caller keeps one call"
    heard_by_human = transcribe_wav(human_heard).lower()
    heard_by_caller = transcribe_wav(caller_heard).lower()
    print(f"human heard: {heard_by_human!r}\ncaller heard: {heard_by_caller!r}")
    assert "asked for the operator" in heard_by_human, "the human was not briefed"
    assert "hold" in heard_by_caller, "the caller was not told to hold"
    assert "booking" in heard_by_caller, "the caller did not hear the human"
    assert "friday" in heard_by_human, "the human did not hear the caller"
    assert "front desk" not in heard_by_caller, "the caller heard the briefing call"
    # On hold the agent is busy with the transfer, not waiting on a silent caller.
    assert "still there" not in heard_by_caller, "the hold counted as silence"
    assert caller.call.remote_hangup, "the caller's leg should end when the human hangs up"

    record = new_call_record(warm.stack, before)
    assert record["persona"] == "warmdesk" and record["outcome"] == "transferred", record
    assert [call["name"] for call in record["tool_calls"]] == ["transfer_call"], record


def test_a_declined_warm_transfer_is_apologised_for_and_the_call_ends(
    warm: WarmStack, tmp_path: Path
) -> None:
    before = set(redis.Redis(port=warm.stack.redis_port).zrange(CALLS_BY_END, 0, -1))
    caller_heard = tmp_path / "caller.wav"
    with start_answering(
        warm.human_port,
        result_dir=tmp_path,
        play=[(warm.lines / "hello.wav", 0.5), (warm.lines / "no.wav", 11.0)],
        hangup_after=40,
        max_calls=1,
        duration=90,
    ) as human_phone:
        caller = dial(
            warm.stack.state.sip_uri.replace("sip:1000@", "sip:2104@"),
            result_dir=tmp_path,
            play=[(warm.lines / "operator.wav", 6.0)],
            record=caller_heard,
            hangup_after=60,
            timeout=75,
        )
        human_phone.result(timeout=60)

    heard_by_caller = transcribe_wav(caller_heard).lower()
    assert "hold" in heard_by_caller and "nobody can take your call" in heard_by_caller, (
        heard_by_caller
    )
    assert caller.call.remote_hangup, "the agent hangs up instead of leaving the caller in silence"
    record = new_call_record(warm.stack, before)
    assert record["outcome"] == "agent_hung_up", record
    transfer = next(call for call in record["tool_calls"] if call["name"] == "transfer_call")
    assert transfer["error"], record["tool_calls"]
