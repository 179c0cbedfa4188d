"""The offline speech engines understand phone audio and speak words Whisper hears back."""

from __future__ import annotations

import asyncio
import wave
from pathlib import Path

import numpy as np
import pytest
from livekit import rtc
from livekit.agents import stt

from tests.support.fixtures import CALLER_LINES, FIXTURES_DIR, render_fixture
from worker.providers.local_stt import WhisperSTT, speech_stretches, transcribe_wav
from worker.providers.local_tts import PiperTTS

TUESDAY_WAV = FIXTURES_DIR / "caller_tuesday.wav"


def _wav_frames(path: Path, *, frame_ms: int = 20) -> list[rtc.AudioFrame]:
    """The WAV as 20 ms frames, the way a room delivers a caller's audio."""
    with wave.open(str(path), "rb") as wav:
        rate, channels = wav.getframerate(), wav.getnchannels()
        pcm = wav.readframes(wav.getnframes())
    step = rate * frame_ms // 1000 * channels * 2
    return [
        rtc.AudioFrame(
            data=pcm[i : i + step],
            sample_rate=rate,
            num_channels=channels,
            samples_per_channel=len(pcm[i : i + step]) // (2 * channels),
        )
        for i in range(0, len(pcm), step)
    ]


def test_transcribes_8khz_phone_fixture() -> None:
    with wave.open(str(TUESDAY_WAV), "rb") as wav:
        assert wav.getframerate() == 8000

    assert "tuesday" in transcribe_wav(TUESDAY_WAV).lower()


async def test_whisper_stt_recognizes_caller_frames() -> None:
    event = await WhisperSTT().recognize(_wav_frames(TUESDAY_WAV))

    assert event.type == stt.SpeechEventType.FINAL_TRANSCRIPT
    assert "tuesday" in event.alternatives[0].text.lower()


async def test_piper_speech_round_trips_through_whisper(tmp_path: Path) -> None:
    piper = PiperTTS()
    frames = [ev.frame async for ev in piper.synthesize("Your appointment is on Friday")]
    audio = rtc.combine_audio_frames(frames)
    samples = np.frombuffer(audio.data, dtype=np.int16).astype(np.float32) / 32768.0

    assert audio.sample_rate == piper.sample_rate
    assert audio.num_channels == 1
    assert audio.duration > 0.5
    assert np.sqrt(np.mean(samples**2)) > 0.02  # speech, not silence

    wav_path = tmp_path / "agent.wav"
    wav_path.write_bytes(audio.to_wav_bytes())
    assert "friday" in (await asyncio.to_thread(transcribe_wav, wav_path)).lower()


# what each fixture must still be heard to say (neural speech is not byte-identical across CPUs)
KEY_WORDS: dict[str, tuple[str, ...]] = {
    "caller_tuesday.wav": ("tuesday",),
    "caller_friday.wav": ("friday",),
    "callee_hello.wav": ("hello",),
    "callee_yes.wav": ("yes", "there"),
    "callee_voicemail.wav": ("reached", "leave a message"),
}


def _phone_audio(path: Path) -> tuple[float, float]:
    """Duration (s) and loudness (RMS, 0-1) of an 8 kHz mono 16-bit WAV."""
    with wave.open(str(path), "rb") as wav:
        assert (wav.getframerate(), wav.getnchannels(), wav.getsampwidth()) == (8000, 1, 2)
        samples = np.frombuffer(wav.readframes(wav.getnframes()), dtype=np.int16)
    pcm = samples.astype(np.float32) / 32768.0
    return len(samples) / 8000, float(np.sqrt(np.mean(pcm**2)))


def test_every_caller_line_has_its_key_words() -> None:
    assert set(KEY_WORDS) == set(CALLER_LINES)


@pytest.mark.parametrize("name", sorted(CALLER_LINES))
def test_fixture_says_its_line(name: str) -> None:
    duration, loudness = _phone_audio(FIXTURES_DIR / name)
    heard = transcribe_wav(FIXTURES_DIR / name).lower()

    assert 0.3 < duration < 15
    assert loudness > 0.02  # speech, not silence
    assert all(word in heard for word in KEY_WORDS[name]), heard


@pytest.mark.parametrize("name", ["caller_tuesday.wav", "callee_voicemail.wav"])
def test_fixture_renders_to_the_same_speech_on_this_cpu(name: str, tmp_path: Path) -> None:
    render_fixture(CALLER_LINES[name], tmp_path / name)
    duration, loudness = _phone_audio(tmp_path / name)
    kept_duration, kept_loudness = _phone_audio(FIXTURES_DIR / name)
    heard = transcribe_wav(tmp_path / name).lower()

    assert abs(duration - kept_duration) < 0.15 * kept_duration
    assert abs(loudness - kept_loudness) < 0.3 * kept_loudness
    assert all(word in heard for word in KEY_WORDS[name]), heard


def test_a_recording_is_cut_into_its_stretches_of_speech_at_long_quiet_gaps() -> None:
    rate = 16000
    tone = 0.3 * np.sin(np.linspace(0, 440 * 2 * np.pi, rate)).astype(np.float32)  # 1 s

    def quiet(seconds: float) -> np.ndarray:
        return np.zeros(round(seconds * rate), dtype=np.float32)

    sentence_gap = np.concatenate([tone, quiet(0.5), tone])  # one stretch: a pause in speech
    audio = np.concatenate([quiet(2.0), sentence_gap, quiet(3.0), tone, quiet(0.3)])

    stretches = speech_stretches(audio)

    assert [round(len(s) / rate, 1) for s in stretches] == [2.5 + 0.4, 1.0 + 0.4]
    assert speech_stretches(quiet(5.0)) == []


def test_speech_after_a_long_quiet_gap_is_transcribed_too(tmp_path: Path) -> None:
    """Two callers' lines 8 s apart in one 8 kHz file, as a call's recording holds replies."""
    with wave.open(str(TUESDAY_WAV), "rb") as wav:
        rate, tuesday = wav.getframerate(), wav.readframes(wav.getnframes())
    with wave.open(str(FIXTURES_DIR / "caller_friday.wav"), "rb") as wav:
        assert wav.getframerate() == rate
        friday = wav.readframes(wav.getnframes())
    path = tmp_path / "two_lines.wav"
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1), out.setsampwidth(2), out.setframerate(rate)
        out.writeframes(tuesday + bytes(2 * rate * 8) + friday)

    heard = transcribe_wav(path).lower()

    assert "tuesday" in heard and "friday" in heard, heard
