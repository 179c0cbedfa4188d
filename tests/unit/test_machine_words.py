"""`MachineWords`, the answering-machine classifier of model-less personas, through the same
tool call livekit's AMD makes: the greeting in, `save_prediction(label)` out."""

from __future__ import annotations

import json

import pytest
from livekit.agents import llm

from worker.providers.machine_words import SAVE_PREDICTION, MachineWords, label_for

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("greeting", "label"),
    [
        ("Hello?", "human"),
        ("Hi, this is Lisa speaking, who is this?", "human"),
        ("You have reached Sam. Please leave a message after the tone.", "machine-vm"),
        ("I can't take your call right now, I'll get back to you.", "machine-vm"),
        ("The mailbox is full and cannot accept any messages. Goodbye.", "machine-unavailable"),
        ("Thanks for calling Acme. For sales, press 1. For support, press 2.", "machine-ivr"),
    ],
)
def test_greetings_are_labelled_by_their_words(greeting: str, label: str) -> None:
    assert label_for(greeting) == label


async def test_it_answers_with_the_tool_call_amd_asks_for() -> None:
    chat = llm.ChatContext()
    chat.add_message(role="system", content="Classify the call greeting.")
    chat.add_message(role="user", content="Please leave your message after the beep.")
    response = await MachineWords().chat(chat_ctx=chat).collect()
    [call] = response.tool_calls
    assert call.name == SAVE_PREDICTION
    assert json.loads(call.arguments) == {"label": "machine-vm"}
