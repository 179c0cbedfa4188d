"""Outbound calls through the real stack: a dispatch carrying a DialRequest makes a worker
dial the test phone over the dev outbound trunk, and the SIP result becomes the call status.

The test creates the room and the dispatch itself, exactly as the dispatcher does, so the
worker's side of outbound calling is proven on its own."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import redis

from callcheck.phone import answer_once, start_answering
from dialroom.call_status import CallStatus
from dialroom.calls import load_call_record
from tests.e2e.conftest import FIXTURES
from tests.support.outbound import CALLEE, place, wait_terminal
from tests.support.stack import RunningStack
from worker.providers.local_stt import transcribe_wav

pytestmark = pytest.mark.e2e


def test_answered_call_hears_the_outbound_greeting_and_completes(
    outbound_stack: RunningStack, phone_port: int, tmp_path: Path
) -> None:
    heard = tmp_path / "heard.wav"
    play = [(FIXTURES / "caller_friday.wav", 7.0)]
    with answer_once(phone_port, tmp_path, play=play, record=heard) as phone:
        place(outbound_stack, "out-answered-1")
        assert wait_terminal(outbound_stack, "out-answered-1") == [
            CallStatus.QUEUED,
            CallStatus.DIALING,
            CallStatus.RINGING,
            CallStatus.ANSWERED,
            CallStatus.COMPLETED,
        ]
        result = phone.result(timeout=30)
    assert len(result.invites) == 1 and CALLEE in result.invites[0].request_uri
    text = transcribe_wav(heard).lower()
    assert "sam" in text and "demo calling" in text, f"outbound greeting not heard: {text!r}"
    assert "friday" in text and "goodbye" in text, text

    client = redis.asyncio.Redis(port=outbound_stack.redis_port)
    record = asyncio.run(load_call_record(client, "out-answered-1"))
    assert record is not None and record.direction == "outbound"
    assert record.called_number == CALLEE and record.outcome == "agent_hung_up"


@pytest.mark.parametrize(
    ("code", "call_id", "status"),
    [(486, "out-busy-1", CallStatus.BUSY), (0, "out-noanswer-1", CallStatus.NO_ANSWER)],
)
def test_sip_result_becomes_the_call_status(
    outbound_stack: RunningStack,
    phone_port: int,
    tmp_path: Path,
    code: int,
    call_id: str,
    status: CallStatus,
) -> None:
    with start_answering(
        phone_port, result_dir=tmp_path, code=code, max_calls=1, duration=60, ring_s=1.0
    ) as phone:
        place(outbound_stack, call_id)
        history = wait_terminal(outbound_stack, call_id)
        result = phone.stop()
    assert history == [CallStatus.QUEUED, CallStatus.DIALING, CallStatus.RINGING, status]
    assert len(result.invites) == 1, "dialled exactly once"
