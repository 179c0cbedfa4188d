"""A non-streaming cloud STT (OpenAI) takes its utterances from the call's own VAD stream
(`worker/providers/shared_vad_stt.py`): real silero VAD, the caller fixture as a room delivers
it, a recording stand-in for the cloud recogniser."""

from __future__ import annotations

import asyncio
import logging

import numpy as np
import pytest
from livekit.agents import stt, utils, vad

from callcheck.voice import speech_end
from dialroom.persona import load_persona
from tests.support.caller_vad import TUESDAY_WAV, RecordingSTT, caller_frames, run_call
from worker.providers import build_stt
from worker.providers.shared_vad_stt import SharedVadSTT
from worker.providers.speech_turns import SpeechTurns
from worker.providers.vad import build_call_vad

pytestmark = pytest.mark.unit


def types(events: list[stt.SpeechEvent]) -> list[stt.SpeechEventType]:
    return [e.type for e in events]


async def test_an_openai_persona_transcribes_what_the_calls_vad_cut() -> None:
    voice = build_call_vad(load_persona("demo"))
    recogniser = RecordingSTT()
    shared = SharedVadSTT(recogniser, voice_activity=voice)
    frames = caller_frames()
    vad_events, stt_events = await run_call(voice, shared, frames)

    (end,) = [e for e in vad_events if e.type == vad.VADEventType.END_OF_SPEECH]
    assert types(stt_events) == [
        stt.SpeechEventType.START_OF_SPEECH,
        stt.SpeechEventType.END_OF_SPEECH,
        stt.SpeechEventType.FINAL_TRANSCRIPT,
    ]
    assert stt_events[-1].alternatives[0].text == "tuesday"
    (sent,) = recogniser.buffers
    spoken = utils.merge_frames(end.frames)  # the VAD's own cut: prefix, line, its silence
    assert bytes(sent.data) == bytes(spoken.data)
    assert sent.duration > speech_end(TUESDAY_WAV) - 0.5  # the whole line, not a piece


async def test_no_second_vad_stream_runs_for_the_recogniser() -> None:
    voice = build_call_vad(load_persona("demo"))
    stt_stream = SharedVadSTT(RecordingSTT(), voice_activity=voice).stream()
    await asyncio.sleep(0.01)
    assert len(voice._streams) == 0  # livekit's StreamAdapter opens one here
    await stt_stream.aclose()


async def test_an_utterance_the_stt_heard_only_as_stand_ins_is_not_transcribed() -> None:
    """Over the greeting's echo warm-up livekit gives the STT silence in place of the caller."""
    voice = build_call_vad(load_persona("demo"))
    recogniser = RecordingSTT()
    frames = caller_frames()
    stand_ins = [utils.audio.silence_frame_like(f) for f in frames]
    vad_events, stt_events = await run_call(
        voice, SharedVadSTT(recogniser, voice_activity=voice), frames, stand_ins
    )
    assert any(e.type == vad.VADEventType.END_OF_SPEECH for e in vad_events)  # the VAD heard it
    assert recogniser.buffers == []
    assert stt.SpeechEventType.FINAL_TRANSCRIPT not in types(stt_events)


async def test_part_stand_ins_send_what_the_stt_was_given() -> None:
    voice = build_call_vad(load_persona("demo"))
    recogniser = RecordingSTT()
    frames = caller_frames()
    given = [utils.audio.silence_frame_like(f) for f in frames[:10]] + frames[10:]
    await run_call(voice, SharedVadSTT(recogniser, voice_activity=voice), frames, given)
    (sent,) = recogniser.buffers
    pcm = np.frombuffer(sent.data, dtype=np.int16)
    assert not pcm[: frames[0].samples_per_channel * 10].any()  # the stand-ins, as given
    assert pcm.any()  # and the caller's audio after them


async def test_the_session_is_built_with_the_shared_vad_recogniser() -> None:
    persona = load_persona("demo")
    openai = persona.stt.model_copy(
        update={"provider": "openai", "endpoint": "http://127.0.0.1:9/v1"}
    )
    voice = build_call_vad(persona)
    built = build_stt(openai, vad=voice)
    assert isinstance(built, SharedVadSTT) and built.voice_activity is voice
    assert not isinstance(build_stt(openai), SharedVadSTT)  # no call VAD: livekit's adapter


def test_a_failing_follower_does_not_stop_the_calls_vad(caplog: pytest.LogCaptureFixture) -> None:
    turns, seen = SpeechTurns(), []

    def broken(event: vad.VADEvent) -> None:
        raise RuntimeError("a follower's bug")

    turns.follow(broken)
    turns.follow(seen.append)
    start = vad.VADEvent(
        type=vad.VADEventType.START_OF_SPEECH,
        samples_index=0,
        timestamp=0.0,
        speech_duration=0.0,
        silence_duration=0.0,
    )
    with caplog.at_level(logging.ERROR):
        turns.publish(start)
    assert seen == [start] and "follower" in caplog.text


def test_the_sessions_keyterms_and_conversation_reach_the_recogniser() -> None:
    """As through livekit's StreamAdapter: OpenAI's newer models take context hints."""
    got: list[object] = []

    class Hinted(RecordingSTT):
        def _update_session_keyterms(self, keyterms: list[str]) -> None:
            got.append(keyterms)

        def _push_conversation_item(self, item: object) -> None:  # type: ignore[override]
            got.append(item)

    voice = build_call_vad(load_persona("demo"))
    shared = SharedVadSTT(Hinted(), voice_activity=voice)
    shared._update_session_keyterms(["Tuesday"])
    shared._push_conversation_item("an item")  # type: ignore[arg-type]
    assert got == [["Tuesday"], "an item"]
