"""The real cloud plugins, built from a persona by `worker.providers`, send what Azure and
OpenAI expect (model, key header, voice, output format) and read their answers back. The
clouds are local fakes (tests/support/cloud_fakes.py, and azure_speech_fake.py for Azure STT's
WebSocket protocol): nothing leaves 127.0.0.1."""

from __future__ import annotations

import asyncio
import wave
from collections.abc import AsyncIterator
from typing import Any

import pytest
from livekit import rtc
from livekit.agents import APIStatusError, llm, utils
from livekit.agents import stt as stt_lib
from livekit.agents.stt import SpeechEventType

from dialroom.persona import Persona
from tests.support.azure_speech_fake import AzureSpeechFake
from tests.support.cloud_fakes import FakeCloud
from tests.support.fixtures import FIXTURES_DIR
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


async def test_azure_stt_streams_audio_with_the_key_and_language_and_reads_the_phrase() -> None:
    # Azure STT is the Speech SDK over a WebSocket: a fake of that protocol, not of HTTP.
    async with AzureSpeechFake(phrase="I would like Tuesday.") as azure_stt:
        p = persona(stt={"provider": "azure", "language": "en-GB", "endpoint": azure_stt.endpoint})
        stt = build_stt(p.stt, ProviderKeys(azure_speech_key="az-good", azure_speech_region=""))
        stream = stt.stream()
        pushing = asyncio.create_task(push_speech(stream))
        try:
            finals = [
                event.alternatives[0].text
                async for event in _until_final(stream)
                if event.type == SpeechEventType.FINAL_TRANSCRIPT
            ]
        finally:
            pushing.cancel()
            await stream.aclose()
    assert finals == ["I would like Tuesday."]
    (connection,) = azure_stt.connections
    assert connection.key == "az-good"
    assert connection.query["language"] == "en-GB"
    assert "speech.config" in connection.messages
    assert connection.audio_bytes >= azure_stt.answer_after_bytes


async def push_speech(stream: stt_lib.RecognizeStream) -> None:
    """A caller's line in 20 ms frames, in real time, then silence."""
    with wave.open(str(FIXTURES_DIR / "caller_tuesday.wav")) as wav:
        rate, audio = wav.getframerate(), wav.readframes(wav.getnframes())
    step = rate // 50 * 2
    chunks = [audio[i : i + step] for i in range(0, len(audio), step)]
    for chunk in [*chunks, *[b"\0" * step] * 250]:
        stream.push_frame(rtc.AudioFrame(chunk, rate, 1, len(chunk) // 2))
        await asyncio.sleep(0.02)


async def _until_final(stream: stt_lib.RecognizeStream) -> AsyncIterator[stt_lib.SpeechEvent]:
    async with asyncio.timeout(20):
        async for event in stream:
            yield event
            if event.type == SpeechEventType.FINAL_TRANSCRIPT:
                return
