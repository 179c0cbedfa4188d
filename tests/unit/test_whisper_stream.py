"""Local Whisper starts at the caller's first pause and the turn reuses that transcript only if
the caller stayed silent (`worker/providers/whisper_stream.py`): real silero VAD, real Whisper,
the caller fixture as a room delivers it."""

from __future__ import annotations

import wave
from pathlib import Path

from livekit import rtc
from livekit.agents import inference, stt

from dialroom.persona import load_persona
from tests.support.fixtures import FIXTURES_DIR
from worker.providers import build_stt
from worker.providers.local_stt import WhisperSTT
from worker.providers.vad import build_vad
from worker.providers.whisper_stream import SpeculativeWhisperSTT
from worker.voicemail import transcripts_after_speech

TUESDAY_WAV = FIXTURES_DIR / "caller_tuesday.wav"
FRIDAY_WAV = FIXTURES_DIR / "caller_friday.wav"


def _frames(path: Path, *, tail_s: float = 1.0) -> list[rtc.AudioFrame]:
    """The WAV plus `tail_s` of silence, in 20 ms frames."""
    with wave.open(str(path), "rb") as wav:
        rate = wav.getframerate()
        pcm = wav.readframes(wav.getnframes()) + b"\0\0" * int(rate * tail_s)
    step = rate // 50 * 2
    return [
        rtc.AudioFrame(
            data=pcm[i : i + step],
            sample_rate=rate,
            num_channels=1,
            samples_per_channel=len(pcm[i : i + step]) // 2,
        )
        for i in range(0, len(pcm), step)
    ]


async def _transcribe(
    whisper: SpeculativeWhisperSTT, frames: list[rtc.AudioFrame]
) -> list[stt.SpeechEvent]:
    stream = whisper.stream()
    for frame in frames:
        stream.push_frame(frame)
    stream.end_input()
    events = [event async for event in stream]
    await stream.aclose()
    return events


def _speculative() -> SpeculativeWhisperSTT:
    silero = inference.VAD(model="silero", min_silence_duration=0.25)
    return SpeculativeWhisperSTT(whisper=WhisperSTT(), voice_activity=silero)


async def test_the_turn_takes_the_transcript_started_at_its_last_pause() -> None:
    whisper = _speculative()

    events = await _transcribe(whisper, _frames(TUESDAY_WAV))

    kinds = [event.type for event in events]
    assert kinds == [
        stt.SpeechEventType.START_OF_SPEECH,
        stt.SpeechEventType.END_OF_SPEECH,
        stt.SpeechEventType.FINAL_TRANSCRIPT,
    ]
    text = events[-1].alternatives[0].text.lower()
    # the whole line: the early start lost none of its last word
    assert "tuesday" in text and "please" in text
    assert events[-1].speech_end_time is not None
    # the line's last pause started the transcript the turn used
    assert whisper.speculations_used == 1
    # "..., on Tuesday, please.": the VAD hears ~0.13 s of silence at the comma; the
    # transcript started there stops before "please" and was dropped when it was spoken
    assert whisper.speculations_dropped == 1


async def test_two_lines_each_get_their_own_transcript() -> None:
    whisper = _speculative()

    events = await _transcribe(whisper, _frames(FRIDAY_WAV) + _frames(TUESDAY_WAV))

    first, second = (
        e.alternatives[0].text.lower()
        for e in events
        if e.type == stt.SpeechEventType.FINAL_TRANSCRIPT
    )
    assert "friday" in first and "tuesday" not in first
    assert "tuesday" in second and "friday" not in second
    assert whisper.speculations_used == 2


def test_the_demo_persona_transcribes_on_pause_and_can_opt_out() -> None:
    demo = load_persona("demo")
    vad = build_vad(demo)

    assert isinstance(build_stt(demo.stt, vad=vad), SpeculativeWhisperSTT)
    assert isinstance(build_stt(demo.stt), WhisperSTT)  # no VAD: livekit's StreamAdapter
    off = demo.stt.model_copy(update={"transcribe_on_pause": False})
    assert isinstance(build_stt(off, vad=vad), WhisperSTT)


async def test_whisper_starts_when_the_line_goes_quiet_not_when_the_vad_does() -> None:
    """The transcript the turn reuses started ~0.1 s after the line's last loud sample (three
    quiet windows), not after silero's smoothed tail and two windows of its silence."""
    from callcheck.voice import speech_end

    silero = inference.VAD(model="silero", min_silence_duration=0.25)
    by_energy = SpeculativeWhisperSTT(whisper=WhisperSTT(), voice_activity=silero)
    by_vad_only = SpeculativeWhisperSTT(
        whisper=WhisperSTT(), voice_activity=silero, quiet_after_s=float("inf")
    )

    events = await _transcribe(by_energy, _frames(TUESDAY_WAV))
    await _transcribe(by_vad_only, _frames(TUESDAY_WAV))

    last_loud = speech_end(TUESDAY_WAV)
    (heard_s,) = by_energy.used_audio_s
    assert 0.05 <= heard_s - last_loud <= 0.14
    assert by_vad_only.used_audio_s[0] - heard_s >= 0.1
    assert "please" in events[-1].alternatives[0].text.lower()


class _Session:
    def __init__(self, stt: stt.STT) -> None:
        self.stt = stt


async def test_while_the_machine_check_listens_whisper_waits_for_the_end_of_speech() -> None:
    # livekit's AMD calls a short "Hello?" human by timing only if no transcript came first
    whisper = _speculative()
    with transcripts_after_speech(_Session(whisper)):  # type: ignore[arg-type]
        events = await _transcribe(whisper, _frames(TUESDAY_WAV))
    assert whisper.speculations_used == 0 and whisper.speculations_dropped == 0
    assert "please" in events[-1].alternatives[0].text.lower()
    assert whisper.speculating  # the conversation after the check transcribes on pause
