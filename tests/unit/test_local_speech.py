"""The offline speech engines understand phone audio and speak words Whisper hears back."""

from __future__ import annotations

import asyncio
import wave
from pathlib import Path

import numpy as np
from livekit import rtc
from livekit.agents import stt

from tests.support.fixtures import CALLER_LINES, FIXTURES_DIR, render_fixture
from worker.providers.local_stt import WhisperSTT, transcribe_wav
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


def test_fixtures_regenerate_byte_identical(tmp_path: Path) -> None:
    for name, text in CALLER_LINES.items():
        render_fixture(text, tmp_path / name)

        assert (tmp_path / name).read_bytes() == (FIXTURES_DIR / name).read_bytes()
