"""The call record's latency and usage come from a real session: the demo persona's
AgentSession (local Whisper, the flow, local Piper, built by `build_session`) hears a caller
say "Tuesday" from a WAV, and its answer becomes one measured turn."""

from __future__ import annotations

import asyncio

import pytest
from livekit.agents import Agent

from dialroom.persona import load_persona
from tests.support.captured_audio import CapturedAudio, WavCaller
from tests.support.fixtures import FIXTURES_DIR
from worker.call_state import CallState
from worker.session import build_session

pytestmark = pytest.mark.integration


async def test_the_answer_to_a_spoken_turn_is_measured_by_stage() -> None:
    persona = load_persona("demo")
    state = CallState(call_id="c1", persona="demo", direction="inbound", room="r")
    session = build_session(persona, state)
    session.input.audio = WavCaller(FIXTURES_DIR / "caller_tuesday.wav", lead_s=1.0)
    session.output.audio = CapturedAudio()
    answered = asyncio.Event()  # build_session's own listener records the turn first
    session.on("conversation_item_added", lambda _: state.turns and answered.set())
    await session.start(Agent(instructions=""))
    try:
        await asyncio.wait_for(answered.wait(), 60)  # a hang guard, not a speed check
    finally:
        await session.aclose()
    (turn,) = state.turns
    assert turn.end_of_turn_s and turn.end_of_turn_s > 0
    assert turn.stt_s and turn.stt_s > 0
    assert turn.tts_ttfb_s and turn.tts_ttfb_s > 0
    assert turn.voice_to_voice_s and turn.voice_to_voice_s > 0
    assert turn.llm_ttft_s is not None
    record = state.record()
    assert record.usage.stt_audio_s > 0 and record.usage.tts_characters > 0
