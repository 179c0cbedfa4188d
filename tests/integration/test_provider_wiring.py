"""The real cloud plugins, built from a persona by `worker.providers`, send what Azure and
OpenAI expect (model, key header, voice, output format) and read their answers back. The
clouds are local fakes (tests/support/cloud_fakes.py): nothing leaves 127.0.0.1."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from livekit import rtc
from livekit.agents import APIStatusError, llm, utils

from dialroom.persona import Persona
from tests.support.cloud_fakes import FakeCloud
from worker.providers import build_llm, build_stt, build_tts, missing_keys
from worker.settings import ProviderKeys

pytestmark = pytest.mark.integration


@pytest.fixture
async def fake() -> AsyncIterator[FakeCloud]:
    async with FakeCloud(openai_key="sk-good", azure_speech_key="az-good") as cloud:
        yield cloud


def persona(**fields: Any) -> Persona:
    base: dict[str, Any] = {
        "name": "cloudy",
        "stt": {"provider": "local"},
        "llm": {"provider": "openai", "model": "gpt-test"},
        "tts": {"provider": "local"},
        "prompt": "unused.md",
        "greeting": {"inbound": "Hello"},
    }
    return Persona.model_validate({**base, **fields})


async def reply_text(model: llm.LLM, said: str) -> str:
    chat = llm.ChatContext()
    chat.add_message(role="user", content=said)
    async with model.chat(chat_ctx=chat) as stream:
        return "".join([c.delta.content async for c in stream if c.delta and c.delta.content])


async def test_openai_llm_with_base_url_streams_from_that_server(fake: FakeCloud) -> None:
    p = persona(llm={"provider": "openai", "model": "gpt-test", "base_url": fake.openai_base_url})
    assert missing_keys(p, ProviderKeys(openai_api_key="")) == []  # a base_url needs no key
    text = await reply_text(build_llm(p, ProviderKeys(openai_api_key="sk-good")), "Hi there")
    assert text == "You said: Hi there"
    (request,) = fake.requests_to("chat")
    assert request.path == "/v1/chat/completions"
    assert request.headers["Authorization"] == "Bearer sk-good"
    assert request.json["model"] == "gpt-test" and request.json["stream"] is True


async def test_azure_openai_uses_the_endpoint_deployment_key_and_api_version(
    fake: FakeCloud,
) -> None:
    keys = ProviderKeys(
        azure_openai_api_key="sk-good",
        azure_openai_endpoint=fake.azure_openai_endpoint,
        openai_api_version="2024-10-21",
    )
    p = persona(llm={"provider": "azure_openai", "model": "gpt-4o"})
    assert missing_keys(p, keys) == []
    assert await reply_text(build_llm(p, keys), "Book me in") == "You said: Book me in"
    (request,) = fake.requests_to("chat")
    assert request.path == "/openai/deployments/gpt-4o/chat/completions"
    assert request.query["api-version"] == "2024-10-21"
    assert request.headers["api-key"] == "sk-good"


async def test_azure_openai_base_url_overrides_the_endpoint_setting(fake: FakeCloud) -> None:
    keys = ProviderKeys(
        azure_openai_api_key="sk-good",
        azure_openai_endpoint="https://unused.invalid",
        openai_api_version="2024-10-21",
    )
    p = persona(llm={"provider": "azure_openai", "model": "gpt-4o", "base_url": fake.url})
    assert await reply_text(build_llm(p, keys), "Hello") == "You said: Hello"
    assert len(fake.requests_to("chat")) == 1


async def test_azure_tts_sends_ssml_with_the_voice_and_gets_pcm(fake: FakeCloud) -> None:
    p = persona(
        tts={"provider": "azure", "voice": "en-US-AvaNeural", "endpoint": fake.azure_tts_endpoint}
    )
    keys = ProviderKeys(azure_speech_key="az-good", azure_speech_region="", openai_api_key="sk")
    assert missing_keys(p, keys) == []  # an endpoint replaces the region
    async with utils.http_context.open():
        tts = build_tts(p.tts, keys)
        frames = [ev.frame async for ev in tts.synthesize("Your table is booked.")]
    audio = rtc.combine_audio_frames(frames)
    assert audio.sample_rate == tts.sample_rate == 24000 and audio.duration > 0.5
    (request,) = fake.requests_to("tts")
    assert request.ssml_voice == "en-US-AvaNeural"
    assert request.ssml_text == "Your table is booked."
    assert request.headers["X-Microsoft-OutputFormat"] == "raw-24khz-16bit-mono-pcm"
    assert request.headers["Ocp-Apim-Subscription-Key"] == "az-good"


async def test_azure_tts_with_a_wrong_key_fails_with_401(fake: FakeCloud) -> None:
    p = persona(tts={"provider": "azure", "endpoint": fake.azure_tts_endpoint})
    async with utils.http_context.open():
        tts = build_tts(p.tts, ProviderKeys(azure_speech_key="az-wrong"))
        with pytest.raises(APIStatusError) as caught:
            _ = [ev async for ev in tts.synthesize("Hello")]
    assert caught.value.status_code == 401 and not caught.value.retryable


async def test_openai_stt_posts_the_audio_and_returns_the_transcript(fake: FakeCloud) -> None:
    fake.transcript = "I'd like Tuesday"
    p = persona(stt={"provider": "openai", "endpoint": fake.openai_base_url})
    stt = build_stt(p.stt, ProviderKeys(openai_api_key="sk-good"))
    speech = rtc.AudioFrame(
        data=b"\x00\x10" * 16000, sample_rate=16000, num_channels=1, samples_per_channel=16000
    )
    event = await stt.recognize([speech])
    assert event.alternatives[0].text == "I'd like Tuesday"
    (request,) = fake.requests_to("stt")
    assert request.headers["Authorization"] == "Bearer sk-good"
    assert request.form["model"] == "gpt-4o-mini-transcribe"
    assert request.form["language"] == "en" and request.form["file"] == "<file>"


def test_an_azure_speech_endpoint_needs_the_key_but_no_region() -> None:
    p = persona(tts={"provider": "azure", "endpoint": "http://127.0.0.1:1/cognitiveservices/v1"})
    keys = ProviderKeys(azure_speech_key="", azure_speech_region="", openai_api_key="sk")
    assert missing_keys(p, keys) == ["AZURE_SPEECH_KEY"]
