"""The transcript synchronizer's speaking-rate estimate, in one numpy pass
(`worker/speaking_rate.py`): the same numbers as livekit-agents' own loop on the agent's real
audio, through a real `SpeakingRateStream`, and livekit's own kept if they ever differ."""

from __future__ import annotations

import numpy as np
import pytest
from livekit import rtc
from livekit.agents.voice.transcription._speaking_rate import (
    SpeakingRateDetector,
    SpeakingRateEvent,
    SpeakingRateStream,
)

from worker import speaking_rate
from worker.providers import local_tts
from worker.providers.local_stt import resample_pcm16

pytestmark = pytest.mark.unit

GREETING = (
    "Hello, you have reached the Dialroom demo. Which day of the week would you like to come in?"
)


def spoken(rate: int) -> np.ndarray:
    """The demo's greeting in the agent's voice, int16 at `rate`."""
    pcm = np.frombuffer(local_tts.synthesize_pcm(GREETING), dtype=np.int16)
    return resample_pcm16(pcm, from_rate=local_tts.voice_sample_rate(), to_rate=rate)


@pytest.mark.parametrize("rate", [16000, 22050, 24000, 48000])
def test_every_window_of_the_agents_speech_gives_livekits_rate(rate: int) -> None:
    audio = spoken(rate).astype(np.float32) / np.iinfo(np.int16).max
    stream = SpeakingRateStream.__new__(SpeakingRateStream)
    hop = rate // 10
    for start in range(0, len(audio) - rate // 2, hop):
        # full one-second windows, then the shorter ones a flush computes at the end
        window = audio[start : start + rate]
        theirs = speaking_rate._original(stream, window, rate)
        assert speaking_rate.spectral_flux(window, rate) == pytest.approx(theirs, rel=1e-9)
    for short in (int(rate * 0.025), int(rate * 0.03)):  # one frame, one and a bit: no change
        theirs = speaking_rate._original(stream, audio[:short], rate)
        assert speaking_rate.spectral_flux(audio[:short], rate) == theirs == 0.0


class LivekitsOwn(SpeakingRateStream):
    _spectral_flux = speaking_rate._original


async def events(stream: SpeakingRateStream, pcm: np.ndarray, rate: int) -> list[SpeakingRateEvent]:
    step = rate // 50  # 20 ms frames, as the room output gets them
    for start in range(0, len(pcm), step):
        chunk = pcm[start : start + step]
        stream.push_frame(rtc.AudioFrame(chunk.tobytes(), rate, 1, len(chunk)))
    stream.flush()
    stream.end_input()
    return [event async for event in stream]


async def test_a_speaking_rate_stream_reports_what_livekits_loop_reports() -> None:
    assert speaking_rate.install()
    assert SpeakingRateStream._spectral_flux is speaking_rate._vectorized
    detector, pcm = SpeakingRateDetector(), spoken(24000)
    ours = await events(detector.stream(), pcm, 24000)
    theirs = await events(LivekitsOwn(detector, detector._opts), pcm, 24000)
    assert len(ours) == len(theirs) > 30  # a 4.6 s greeting: one a 0.1 s after its first second
    assert [e.speaking for e in ours] == [e.speaking for e in theirs]
    assert any(e.speaking for e in ours)
    for mine, reference in zip(ours, theirs, strict=True):
        assert mine.timestamp == reference.timestamp
        assert mine.speaking_rate == pytest.approx(reference.speaking_rate, rel=1e-9)


def test_livekits_own_loop_is_kept_when_its_estimate_changes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def doubled(self: SpeakingRateStream, audio: np.ndarray, sample_rate: int) -> float:
        return 2 * speaking_rate.spectral_flux(audio, sample_rate)

    monkeypatch.setattr(SpeakingRateStream, "_spectral_flux", doubled)
    monkeypatch.setattr(speaking_rate, "_original", doubled)
    assert not speaking_rate.install()
    assert SpeakingRateStream._spectral_flux is doubled
