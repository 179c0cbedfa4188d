"""Voicemail detection on outbound calls, over real SIP: the `reminder` persona listens before
it speaks. A person who says "Hello?" gets the greeting as soon as they stop; a voicemail box
gets the persona's message after its greeting, and never the conversation."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import redis

from callcheck.phone import start_answering
from dialroom.call_status import CallStatus
from dialroom.calls import CallRecord, load_call_record
from tests.e2e.conftest import FIXTURES
from tests.support.outbound import place, wait_terminal
from tests.support.stack import RunningStack
from worker.providers.local_stt import transcribe_wav

pytestmark = pytest.mark.e2e

GREETING = "will you be able to make it"  # the reminder's outbound greeting
MESSAGE = "please call us back"  # its voicemail message


def answered_call(
    stack: RunningStack, phone_port: int, folder: Path, call_id: str, says: list[tuple[str, float]]
) -> tuple[str, CallRecord]:
    """Place a reminder call that the test phone answers and speaks into; what it heard."""
    heard = folder / "heard.wav"
    with start_answering(
        phone_port,
        result_dir=folder,
        play=[(FIXTURES / name, at) for name, at in says],
        record=heard,
        max_calls=1,
        duration=60,
    ) as phone:
        place(stack, call_id, persona="reminder")
        assert wait_terminal(stack, call_id)[-1] == CallStatus.COMPLETED
        phone.result(timeout=30)
    client = redis.asyncio.Redis(port=stack.redis_port)
    record = asyncio.run(load_call_record(client, call_id))
    assert record is not None
    return transcribe_wav(heard).lower(), record


def test_a_person_is_greeted_when_they_stop_speaking(
    outbound_stack: RunningStack, phone_port: int, tmp_path: Path
) -> None:
    text, record = answered_call(
        outbound_stack,
        phone_port,
        tmp_path,
        "vm-human-1",
        [("callee_hello.wav", 0.5), ("callee_yes.wav", 13.0)],  # after the greeting
    )
    assert GREETING in text and "noted your answer" in text, text
    assert MESSAGE not in text, text
    said = [line.text for line in record.transcript if line.role == "agent"]
    assert said[-1] == "Thank you, I have noted your answer, yes. Goodbye!", said
    assert record.voicemail is not None
    # Decided from timing alone ("Hello?" then silence), not after a model or a timeout.
    assert (record.voicemail.answered_by, record.voicemail.reason) == ("human", "short_greeting")
    assert record.voicemail.action == "greeted"
    assert record.outcome == "agent_hung_up"


def test_a_voicemail_box_gets_the_message_and_not_the_conversation(
    outbound_stack: RunningStack, phone_port: int, tmp_path: Path
) -> None:
    text, record = answered_call(
        outbound_stack, phone_port, tmp_path, "vm-machine-1", [("callee_voicemail.wav", 0.3)]
    )
    assert MESSAGE in text, text
    assert GREETING not in text, text
    assert record.voicemail is not None
    assert (record.voicemail.answered_by, record.voicemail.action) == (
        "machine-vm",
        "left_message",
    )
    assert record.outcome == "voicemail_left_message"
    assert [line.text for line in record.transcript if line.role == "agent"] == [
        "Hi Sam, this is Dialroom calling about your appointment tomorrow. "
        "Please call us back to confirm. Goodbye."
    ]
