"""What Dialroom sets on the audio path between the phone and the agent (issue 11, point 2):
the SIP bridge renders with its jitter buffer off, and a call's VAD ends speech after the
persona's `turn.vad_min_silence_s`, which a local STT waits for before it transcribes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml
from faster_whisper.audio import decode_audio
from livekit import rtc
from livekit.agents import vad

from dialroom.persona import Persona, load_persona
from stack.configs import render_sip_config
from tests.support.stack_plan import plan_in
from worker.audio_file import read_wav
from worker.call_state import CallState
from worker.providers.vad import build_vad, vad_silence_s
from worker.session import build_session

pytestmark = pytest.mark.unit
FIXTURES = Path(__file__).parents[1] / "fixtures"


def demo_with(**turn: object) -> Persona:
    demo = load_persona("demo")
    return demo.model_copy(
        update={"turn": demo.turn.model_validate({**demo.turn.model_dump(), **turn})}
    )


def test_the_rendered_sip_bridge_has_no_jitter_buffer(tmp_path: Path) -> None:
    config = yaml.safe_load(render_sip_config(plan_in(tmp_path)).read_text())
    assert config["enable_jitter_buffer"] is False
    assert config["enable_jitter_buffer_prob"] == 0.0  # > 0 would turn it on for some calls


def test_the_default_vad_silence_is_livekits_and_a_persona_sets_its_own() -> None:
    """Documented in the persona reference: 0.25 s unless the persona says otherwise."""
    demo = load_persona("demo")
    assert demo.turn.vad_min_silence_s == 0.25
    assert vad_silence_s(demo) == 0.25
    assert vad_silence_s(demo_with(vad_min_silence_s=0.4)) == 0.4


def test_model_turn_detection_refuses_a_vad_silence_below_its_minimum() -> None:
    with pytest.raises(ValueError, match="vad_min_silence_s"):
        demo_with(detection="model", vad_min_silence_s=0.1)


async def test_the_calls_session_gets_the_personas_vad_silence() -> None:
    persona = demo_with(vad_min_silence_s=0.15)
    state = CallState(call_id="vad-1", persona="demo", direction="inbound", room="r")
    session = build_session(persona, state)
    assert session.vad is not None
    assert session.vad._opts.min_silence_duration == 0.15  # type: ignore[attr-defined]


async def end_of_speech_after(silence_s: float) -> float:
    """Seconds of silence after a real caller line before the VAD built for a persona with
    `vad_min_silence_s=silence_s` says speech ended."""
    line = read_wav(FIXTURES / "caller_tuesday.wav")
    assert line is not None
    rate = line.sample_rate
    pcm = np.concatenate([np.frombuffer(line.data, dtype=np.int16), np.zeros(rate, dtype=np.int16)])
    stream = build_vad(demo_with(vad_min_silence_s=silence_s)).stream()
    step = rate // 100  # 10 ms frames, as the room delivers them
    for start in range(0, len(pcm), step):
        chunk = pcm[start : start + step]
        stream.push_frame(rtc.AudioFrame(chunk.tobytes(), rate, 1, len(chunk)))
    stream.end_input()
    async for event in stream:
        if event.type == vad.VADEventType.END_OF_SPEECH:
            await stream.aclose()
            return event.silence_duration
    raise AssertionError("the VAD never ended speech")


async def test_a_shorter_vad_silence_ends_speech_sooner() -> None:
    short, default = await end_of_speech_after(0.1), await end_of_speech_after(0.25)
    assert short == pytest.approx(0.1, abs=0.05)
    assert default == pytest.approx(0.25, abs=0.05)


def test_local_whisper_decodes_text_only_greedy(monkeypatch: pytest.MonkeyPatch) -> None:
    """The offline persona's Whisper decodes no timestamp tokens and one beam: the fastest
    settings that still hear the caller's line word for word (bench/README.md, issue 11)."""
    from worker.providers import local_stt

    model = local_stt.load_model()
    seen: dict[str, object] = {}
    real = model.transcribe

    def spy(audio: object, **options: object) -> object:
        seen.update(options)
        return real(audio, **options)

    monkeypatch.setattr(model, "transcribe", spy)
    audio = decode_audio(str(FIXTURES / "caller_tuesday.wav"), local_stt.WHISPER_SAMPLE_RATE)
    text = local_stt.transcribe_audio(audio, one_turn=True)
    assert text == "I would like to come in on Tuesday, please."
    assert seen["without_timestamps"] is True
    assert seen["beam_size"] == 1
    local_stt.transcribe_audio(audio)  # a whole recording keeps its timestamps (long pauses)
    assert seen["without_timestamps"] is False
