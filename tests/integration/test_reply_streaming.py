"""A reply is spoken sentence by sentence: its first sentence goes to the TTS while the LLM is
still writing the rest, with non-streaming TTS (Azure's plugin, Piper) too.

Driven through a real AgentSession: once with fakes of livekit's own interfaces (an LLM that
pauses inside its second sentence, a TTS that notes when it is asked), once as Dialroom builds
a cloud persona's session (`build_session`: the real OpenAI and Azure plugins, pointed at the
local `FakeCloud`, whose chat streams one word per `chunk_delay_s`)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from livekit.agents import Agent, AgentSession, ConversationItemAddedEvent, utils

from dialroom.persona import Persona
from tests.support.captured_audio import CapturedAudio
from tests.support.cloud_fakes import FakeCloud
from tests.support.timed_providers import CountingTTS, SentencesLLM
from worker.call_state import CallState
from worker.session import build_session, turn_handling
from worker.settings import ProviderKeys

pytestmark = pytest.mark.integration

FIRST = "Sure, I can book that appointment for you."
SECOND = "Let me just check which days are still free this week before I confirm anything."


async def reply_to(session: AgentSession[CallState], text: str) -> None:
    """Ask for a reply and wait until it has been spoken."""
    spoken = asyncio.Event()

    def on_item(ev: ConversationItemAddedEvent) -> None:
        if getattr(ev.item, "role", None) == "assistant":
            spoken.set()

    session.on("conversation_item_added", on_item)
    session.generate_reply(user_input=text)
    await asyncio.wait_for(spoken.wait(), 30)  # a hang guard, not a speed check


async def test_first_sentence_reaches_the_tts_before_the_llm_finishes() -> None:
    model = SentencesLLM([FIRST, SECOND], pause_s=1.0)
    voice = CountingTTS()
    state = CallState(call_id="c1", persona="p", direction="inbound", room="r")
    session = AgentSession[CallState](llm=model, tts=voice, userdata=state)
    session.output.audio = CapturedAudio()
    await session.start(Agent(instructions="Be brief."))
    try:
        await reply_to(session, "Can I book an appointment?")
    finally:
        await session.aclose()
    assert model.finished_at is not None
    (first_at, first_text), *rest = voice.requests
    assert first_text.strip() == FIRST, "the first sentence is synthesized on its own"
    assert first_at < model.finished_at, "...while the LLM is still writing the second"
    assert [text.strip() for _, text in rest] == [SECOND]


class TimedCloud(FakeCloud):
    """FakeCloud noting when each chat stream ends and each TTS request arrives."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.chat_done_at: list[float] = []
        self.tts_at: list[float] = []

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        response = await super()._chat(request)
        self.chat_done_at.append(time.monotonic())
        return response

    async def _tts(self, request: web.Request) -> web.StreamResponse:
        self.tts_at.append(time.monotonic())
        return await super()._tts(request)


@pytest.fixture
async def cloud() -> AsyncIterator[TimedCloud]:
    fake = TimedCloud(openai_key="sk-good", azure_speech_key="az-good", chunk_delay_s=0.05)
    fake.chat_reply = f"{FIRST} {SECOND}"
    async with fake:
        yield fake


def azure_persona(cloud: FakeCloud) -> Persona:
    return Persona.model_validate(
        {
            "name": "cloudy",
            "stt": {"provider": "local"},
            "llm": {"provider": "openai", "model": "gpt-test", "base_url": cloud.openai_base_url},
            "tts": {
                "provider": "azure",
                "voice": "en-US-AvaNeural",
                "endpoint": cloud.azure_tts_endpoint,
            },
            "prompt": "unused.md",
            "greeting": {"inbound": "Hello"},
        }
    )


async def test_azure_tts_gets_the_first_sentence_while_the_reply_streams(
    cloud: TimedCloud,
) -> None:
    state = CallState(call_id="c1", persona="cloudy", direction="inbound", room="r")
    keys = ProviderKeys(openai_api_key="sk-good", azure_speech_key="az-good")
    async with utils.http_context.open():
        session = build_session(azure_persona(cloud), state, keys)
        session.output.audio = CapturedAudio()
        await session.start(Agent(instructions="Be brief."))
        try:
            await reply_to(session, "Can I book an appointment?")
        finally:
            await session.aclose()
    (chat_done,) = cloud.chat_done_at
    spoken = [request.ssml_text for request in cloud.requests_to("tts")]
    assert spoken == [FIRST, SECOND], "Azure is asked one sentence at a time"
    assert cloud.tts_at[0] < chat_done, "the first sentence before the LLM's last word"


def test_preemptive_generation_is_a_persona_turn_setting() -> None:
    base = {
        "name": "p",
        "stt": {"provider": "local"},
        "llm": {"provider": "openai", "model": "m"},
        "tts": {"provider": "local"},
        "prompt": "p.md",
        "greeting": {"inbound": "Hello"},
    }
    default = turn_handling(Persona.model_validate(base))["preemptive_generation"]
    assert default == {"enabled": True, "preemptive_tts": False}
    off = Persona.model_validate({**base, "turn": {"preemptive_generation": False}})
    assert turn_handling(off)["preemptive_generation"]["enabled"] is False
    tts_too = Persona.model_validate({**base, "turn": {"preemptive_tts": True}})
    assert turn_handling(tts_too)["preemptive_generation"]["preemptive_tts"] is True
    flow = {**base, "llm": {"provider": "flow"}, "flow": [{"collect": "x", "choices": ["y"]}]}
    assert turn_handling(Persona.model_validate(flow))["preemptive_generation"]["enabled"] is False
