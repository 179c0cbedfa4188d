"""The greeting is rendered once per persona and voice and played from disk after that: a
real AgentSession greets with a `PersonaAgent`, its TTS a `CountingTTS` that notes every request.
A call with an unchanged persona asks the TTS nothing; an edited greeting or voice is rendered
again; a greeting with the call's variables is synthesized when the call is prepared."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from livekit import rtc
from livekit.agents import AgentSession, ConversationItemAddedEvent

from dialroom.dial import DialRequest
from dialroom.last_good import CallPersona
from dialroom.persona import Persona
from tests.support.captured_audio import CapturedAudio
from tests.support.timed_providers import CountingTTS
from worker.audio_file import read_wav
from worker.call_state import CallState
from worker.greeting import GreetingAudio
from worker.greeting_cache import cacheable, cached_path
from worker.persona_agent import PersonaAgent, agent_for
from worker.providers.local_tts import PiperTTS

pytestmark = pytest.mark.unit

HELLO = "Hello, you have reached the test line. How can I help?"


def persona(greeting: str = HELLO, voice: str = "en-US-AvaNeural", **more: Any) -> Persona:
    return Persona.model_validate(
        {
            "name": "cached",
            "stt": {"provider": "local"},
            "llm": {"provider": "openai", "model": "m"},
            "tts": {"provider": "azure", "voice": voice},
            "prompt": "unused.md",
            "greeting": {"inbound": greeting, **more},
        }
    )


@dataclass
class Greeted:
    agent: PersonaAgent
    audio: CapturedAudio
    state: CallState


def new_agent(config: Persona, state: CallState, template: str, text: str) -> PersonaAgent:
    return PersonaAgent(
        config,
        state,
        instructions="Be brief.",
        greeting=text,
        greeting_cacheable=cacheable(template),
    )


async def call(
    config: Persona, voice: CountingTTS, root: Path, *, text: str | None = None
) -> Greeted:
    """One inbound call up to the end of its greeting."""
    state = CallState(call_id="c1", persona=config.name, direction="inbound", room="r")
    template = config.greeting.inbound
    agent = new_agent(config, state, template, text or template)
    session = AgentSession[CallState](tts=voice, userdata=state)
    agent.prefetch_greeting(session, persona=config, cache_root=root)
    audio = CapturedAudio()
    session.output.audio = audio
    said = asyncio.Event()
    session.on("conversation_item_added", lambda ev: _said(ev, said, state))
    await session.start(agent)
    try:
        await asyncio.wait_for(said.wait(), 10)  # a hang guard, not a speed check
    finally:
        await session.aclose()
    assert agent.greeting_audio is not None
    await agent.greeting_audio.settled()  # rendered: written to the cache too
    return Greeted(agent, audio, state)


def _said(ev: ConversationItemAddedEvent, said: asyncio.Event, state: CallState) -> None:
    if getattr(ev.item, "role", None) == "assistant":
        state.heard("assistant", ev.item.text_content or "")  # type: ignore[union-attr]
        said.set()


def files(folder: Path) -> list[Path]:
    return [path for path in folder.iterdir() if path.suffix != ".lock"]


async def test_an_unchanged_persona_greets_from_the_cache_without_asking_the_tts(
    tmp_path: Path,
) -> None:
    first = CountingTTS()
    greeted = await call(persona(), first, tmp_path)
    assert first.said == HELLO, "the first call renders the greeting"
    assert greeted.audio.seconds == pytest.approx(first.seconds, abs=0.05)
    assert [p.suffix for p in files(tmp_path)] == [".wav"]

    later = CountingTTS()  # another call process: same persona, same voice settings
    greeted = await call(persona(), later, tmp_path)
    assert later.requests == [], "a cached greeting asks the TTS nothing"
    assert greeted.agent.greeting_audio is not None
    assert greeted.agent.greeting_audio.source == "cache"
    assert greeted.audio.seconds == pytest.approx(first.seconds, abs=0.05)
    assert greeted.state.transcript[0].text == HELLO, "the transcript has the greeting"


async def test_an_edited_greeting_is_rendered_again_then_cached(tmp_path: Path) -> None:
    await call(persona(), CountingTTS(), tmp_path)
    edited = persona("Good morning, this is the new greeting.")
    voice = CountingTTS()
    greeted = await call(edited, voice, tmp_path)
    assert voice.said == "Good morning, this is the new greeting."
    assert greeted.audio.seconds == pytest.approx(voice.seconds, abs=0.05)
    again = CountingTTS()
    await call(edited, again, tmp_path)
    assert again.requests == []


@pytest.mark.parametrize(
    "changed",
    [
        {"config": persona(voice="en-US-GuyNeural")},  # the persona's voice
        {"voice": CountingTTS(sample_rate=16000)},  # the TTS's output rate
        {"voice": CountingTTS(voice="another-model")},  # the provider's model
    ],
    ids=["persona voice", "sample rate", "tts model"],
)
async def test_a_changed_voice_is_rendered_again(tmp_path: Path, changed: dict[str, Any]) -> None:
    await call(persona(), CountingTTS(), tmp_path)
    voice = changed.get("voice") or CountingTTS()
    await call(changed.get("config") or persona(), voice, tmp_path)
    assert voice.said == HELLO


async def test_a_greeting_with_variables_is_synthesized_before_the_session_starts(
    tmp_path: Path,
) -> None:
    config = persona("Hello {caller_number}, thanks for calling.")
    state = CallState(call_id="c1", persona=config.name, direction="inbound", room="r")
    voice = CountingTTS()
    agent = new_agent(config, state, config.greeting.inbound, "Hello 555, thanks for calling.")
    session = AgentSession[CallState](tts=voice, userdata=state)
    agent.prefetch_greeting(session, persona=config, cache_root=tmp_path)
    assert agent.greeting_audio is not None
    await agent.greeting_audio.settled()  # it runs on its own, before any session starts
    assert voice.said == "Hello 555, thanks for calling."
    assert agent.greeting_audio is not None and agent.greeting_audio.source == "synthesized"
    assert files(tmp_path) == [], "a greeting with this call's variables is not cached"


async def test_a_failed_early_synthesis_is_said_through_the_session_tts(tmp_path: Path) -> None:
    voice = CountingTTS(fail=True)
    config = persona("A greeting for {caller_number}.")
    state = CallState(call_id="c1", persona=config.name, direction="inbound", room="r")
    agent = new_agent(config, state, config.greeting.inbound, "A greeting for 555.")
    session = AgentSession[CallState](tts=voice, userdata=state)
    agent.prefetch_greeting(session, persona=config, cache_root=tmp_path)
    assert agent.greeting_audio is not None
    await agent.greeting_audio.settled()
    assert agent.greeting_audio.source == "failed"
    voice.fail = False  # the provider is back: the session's own path says it
    audio = CapturedAudio()
    session.output.audio = audio
    said = asyncio.Event()
    session.on("conversation_item_added", lambda ev: _said(ev, said, state))
    await session.start(agent)
    try:
        await asyncio.wait_for(said.wait(), 10)
    finally:
        await session.aclose()
    assert voice.texts == ["A greeting for 555."] * 2, "tried early, then said live"
    assert audio.seconds == pytest.approx(voice.seconds / 2, abs=0.05)


async def test_an_unreadable_cached_file_is_rendered_again(tmp_path: Path) -> None:
    voice = CountingTTS()
    path = cached_path(tmp_path, HELLO, persona().tts, voice)
    path.write_bytes(b"RIFF not really a wav")
    await call(persona(), voice, tmp_path)
    assert voice.said == HELLO
    cached = read_wav(path)
    assert cached is not None and cached.duration == pytest.approx(voice.seconds, abs=0.05)
    assert [p.suffix for p in files(tmp_path)] == [".wav"], "a temporary file, renamed"


def test_only_the_personas_own_greeting_without_variables_is_cached() -> None:
    state = CallState(call_id="c1", persona="cached", direction="outbound", room="r")
    loaded = CallPersona(persona=persona(outbound="Hi {caller_name}!"), prompt="Be brief.")
    request = DialRequest(call_id="call-0001", persona="cached", to_number="+15551230000")

    def cached(request: DialRequest | None) -> bool:
        agent = agent_for(loaded, state, request, {"caller_name": "Sam"})
        return agent._greeting_cacheable

    assert cached(None), "the inbound greeting has no variables"
    assert not cached(request), "the outbound one names the callee"
    own_text = request.model_copy(update={"greeting": "Hello there."})
    assert not cached(own_text), "an API call's own greeting is not kept on disk"


async def test_a_cached_greeting_lets_the_call_loop_run_between_its_frames(tmp_path: Path) -> None:
    """Handed over all at once, a cached greeting's first frame would wait for livekit-agents'
    transcript synchronizer to analyse the whole greeting first (0.07-0.1 s later to the phone)."""
    await call(persona(), CountingTTS(), tmp_path)  # renders it into the cache
    greeting = GreetingAudio(HELLO, voice=CountingTTS(), speech=persona().tts, cache_root=tmp_path)
    greeting.start()
    await greeting.settled()
    assert greeting.source == "cache"

    turns = 0  # how often another task on the loop got to run

    async def other_task() -> None:
        nonlocal turns
        while True:
            turns += 1
            await asyncio.sleep(0)

    other = asyncio.create_task(other_task())
    await asyncio.sleep(0)
    seen = [turns async for _ in greeting.frames(fallback=_no_fallback)]
    other.cancel()
    assert len(seen) > 10
    assert all(later > earlier for earlier, later in zip(seen, seen[1:], strict=False))


async def _no_fallback() -> AsyncIterator[rtc.AudioFrame]:
    raise AssertionError("a cached greeting needs no fallback")
    yield  # an async generator


def test_a_piper_greeting_rendered_before_speech_first_is_not_read(tmp_path: Path) -> None:
    """Piper's greetings changed how they are made (each sentence starts with its first sound):
    the key carries that, so a file rendered the old way is never played."""
    speech = persona().tts
    voice = PiperTTS()
    now = cached_path(tmp_path, HELLO, speech, voice)
    voice.render = "as-rendered"
    assert cached_path(tmp_path, HELLO, speech, voice) != now
