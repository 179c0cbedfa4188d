"""Post-call for an LLM persona: after the call its own model (here the local OpenAI fake)
is asked for a summary and for the `extract` fields as JSON; a bad answer leaves the
fields empty and never stops the record."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest

from dialroom.persona import Persona
from tests.support.cloud_fakes import FakeCloud
from worker import post_call
from worker.call_state import CallState
from worker.providers import build_llm
from worker.settings import ProviderKeys

pytestmark = pytest.mark.integration


@pytest.fixture
async def fake() -> AsyncIterator[FakeCloud]:
    async with FakeCloud(openai_key="sk-good") as cloud:
        yield cloud


def persona(fake: FakeCloud) -> Persona:
    return Persona.model_validate(
        {
            "name": "shop",
            "stt": {"provider": "local"},
            "llm": {"provider": "openai", "model": "gpt-test", "base_url": fake.openai_base_url},
            "tts": {"provider": "local"},
            "prompt": "unused.md",
            "greeting": {"inbound": "Hello"},
            "post_call": {"summary": True, "extract": {"order_id": "integer", "angry": "boolean"}},
        }
    )


def finished_call() -> CallState:
    state = CallState(call_id="c", persona="shop", direction="inbound", room="r")
    state.heard("user", "Where is order 42? This is the third time I call!")
    state.heard("assistant", "Order 42 ships on Friday.")
    return state


async def test_summary_and_extracted_fields_come_from_the_persona_model(
    fake: FakeCloud,
) -> None:
    fake.chat_script = [
        "The caller asked about order 42; it ships Friday.",
        '```json\n{"order_id": "42", "angry": true, "extra": 1}\n```',
    ]
    p = persona(fake)
    state = finished_call()
    await post_call.summarize(state, p, build_llm(p, ProviderKeys(openai_api_key="sk-good")))
    assert state.summary == "The caller asked about order 42; it ships Friday."
    assert state.extracted == {"order_id": 42, "angry": True}
    summary_req, extract_req = fake.requests_to("chat")
    assert "caller: Where is order 42?" in json.dumps(summary_req.json["messages"])
    assert "- order_id (integer)" in extract_req.json["messages"][0]["content"]


async def test_an_unreadable_extract_answer_keeps_the_summary(fake: FakeCloud) -> None:
    fake.chat_script = ["A short call.", "Sorry, I cannot do that."]
    p = persona(fake)
    state = finished_call()
    await post_call.summarize(state, p, build_llm(p, ProviderKeys(openai_api_key="sk-good")))
    assert state.summary == "A short call." and state.extracted == {}


async def test_a_failing_model_leaves_both_empty(fake: FakeCloud) -> None:
    p = persona(fake)
    state = finished_call()
    await post_call.summarize(state, p, build_llm(p, ProviderKeys(openai_api_key="sk-wrong")))
    assert state.summary is None and state.extracted == {}
    assert state.record().summary is None


async def test_a_call_where_nothing_was_said_asks_the_model_nothing(fake: FakeCloud) -> None:
    # an outbound call nobody answered: its agent may be built, but there is nothing to sum up
    p = persona(fake)
    state = CallState(call_id="c", persona="shop", direction="outbound", room="r")
    await post_call.summarize(state, p, build_llm(p, ProviderKeys(openai_api_key="sk-good")))
    assert state.summary is None and state.extracted == {}
    assert fake.requests_to("chat") == []
