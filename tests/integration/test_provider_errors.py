"""Apology on provider error: a real AgentSession, built by `build_session` for a cloud
persona pointed at local fakes, whose LLM or TTS fails. The caller must hear the local
apology (never silence), the call must end, and the record must say `provider_error`."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import pytest
from livekit.agents import Agent, AgentSession, CloseEvent, utils

from dialroom.persona import Persona
from tests.support.captured_audio import CapturedAudio
from tests.support.cloud_fakes import FakeCloud
from worker import apology
from worker.call_state import OUTCOMES, CallState
from worker.session import build_session
from worker.settings import ProviderKeys

pytestmark = pytest.mark.integration


@pytest.fixture
async def fake() -> AsyncIterator[FakeCloud]:
    async with FakeCloud(openai_key="sk-good", azure_speech_key="az-good") as cloud:
        yield cloud


def cloud_persona(fake: FakeCloud) -> Persona:
    return Persona.model_validate(
        {
            "name": "cloudy",
            "stt": {"provider": "local"},
            "llm": {"provider": "openai", "model": "gpt-test", "base_url": fake.openai_base_url},
            "tts": {
                "provider": "azure",
                "voice": "en-US-AvaNeural",
                "endpoint": fake.azure_tts_endpoint,
            },
            "prompt": "unused.md",
            "greeting": {"inbound": "Hello"},
        }
    )


@dataclass
class EndedCall:
    state: CallState
    audio: CapturedAudio
    close: CloseEvent

    @property
    def outcome(self) -> str:  # as worker.server's close handler computes it
        return self.state.outcome_override or OUTCOMES.get(self.close.reason.value, "")


async def run_call(
    persona: Persona, keys: ProviderKeys, drive: Callable[[AgentSession[CallState]], object]
) -> EndedCall:
    state = CallState(call_id="call-1", persona=persona.name, direction="inbound", room="r")
    async with utils.http_context.open():
        session = build_session(persona, state, keys)
        audio = CapturedAudio()
        session.output.audio = audio
        closed: asyncio.Future[CloseEvent] = asyncio.get_running_loop().create_future()
        session.on("close", lambda ev: closed.done() or closed.set_result(ev))
        await session.start(Agent(instructions="Be brief."))
        result = drive(session)
        if isinstance(result, Awaitable):
            await result
        close = await asyncio.wait_for(closed, 30)
    return EndedCall(state=state, audio=audio, close=close)


def assert_heard_the_apology(call: EndedCall) -> None:
    expected = apology.render().duration
    assert call.audio.seconds == pytest.approx(expected, abs=0.05), (
        f"heard {call.audio.seconds:.2f} s, the apology is {expected:.2f} s"
    )
    assert call.outcome == "provider_error"
    assert call.state.transcript[-1].text == apology.APOLOGY, "the transcript shows it too"


async def test_wrong_llm_key_apologises_and_hangs_up(fake: FakeCloud) -> None:
    keys = ProviderKeys(openai_api_key="sk-wrong", azure_speech_key="az-good")
    call = await run_call(
        cloud_persona(fake), keys, lambda s: s.generate_reply(user_input="Hi there")
    )
    chat = fake.requests_to("chat")
    assert len(chat) == 1, "a 401 is not retried"
    assert chat[0].headers["Authorization"] == "Bearer sk-wrong"
    assert call.state.error is not None and "llm" in call.state.error
    assert "401" in call.state.error or "Incorrect API key" in call.state.error
    assert_heard_the_apology(call)
    assert not fake.requests_to("tts"), "the apology is local: the cloud TTS is not asked"


async def test_wrong_tts_key_at_the_greeting_still_apologises(fake: FakeCloud) -> None:
    keys = ProviderKeys(openai_api_key="sk-good", azure_speech_key="az-wrong")
    call = await run_call(
        cloud_persona(fake), keys, lambda s: s.say("Thank you for calling the front desk.")
    )
    tts = fake.requests_to("tts")
    assert tts and tts[0].headers["Ocp-Apim-Subscription-Key"] == "az-wrong"
    assert call.state.error is not None and call.state.error.startswith("tts")
    assert_heard_the_apology(call)


async def test_llm_failing_after_its_retries_apologises(fake: FakeCloud) -> None:
    fake.fail["chat"] = 500
    keys = ProviderKeys(openai_api_key="sk-good", azure_speech_key="az-good")
    call = await run_call(cloud_persona(fake), keys, lambda s: s.generate_reply(user_input="Hi"))
    assert len(fake.requests_to("chat")) == 3, "one try and two retries"
    assert_heard_the_apology(call)


async def test_working_providers_speak_and_do_not_apologise(fake: FakeCloud) -> None:
    fake.chat_reply = "We are open until six."
    keys = ProviderKeys(openai_api_key="sk-good", azure_speech_key="az-good")

    async def drive(session: AgentSession[CallState]) -> None:
        await session.generate_reply(user_input="When are you open?")
        session.shutdown()

    call = await run_call(cloud_persona(fake), keys, drive)
    assert [r.ssml_text for r in fake.requests_to("tts")] == ["We are open until six."]
    assert call.audio.seconds > 1.0
    assert call.state.error is None and call.state.outcome_override is None
    assert call.state.usage.llm_output_tokens > 0 and call.state.usage.tts_characters > 0
