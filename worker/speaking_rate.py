"""livekit-agents' speaking-rate estimate of the agent's audio, computed in one numpy pass.

The transcript synchronizer (what cuts an interrupted reply in the call record to what the
caller heard) estimates how fast the agent speaks: every 0.1 s of the agent's audio it takes
the last second and averages the spectral change between its 25 ms frames
(`SpeakingRateStream._spectral_flux` in livekit-agents 1.8.9). It does so with a Python loop
over the ~80 frames, twice: ~1 % of a core while a call's agent speaks (on an idle core), on
every call's event loop, all calls at once while their greetings play (`bench/README.md`, "the
speaking rate in one pass"). `install` swaps in the same arithmetic over all frames at once
(0.28 %): the same rate to the last bit on the audio checked, so the synchronizer times the
words exactly as before.
"""

from __future__ import annotations

import logging

import numpy as np
from livekit.agents.voice.transcription._speaking_rate import SpeakingRateStream

logger = logging.getLogger("dialroom.worker")

FRAME_S = 0.025  # livekit's frame: 25 ms, hop half of it
_original = SpeakingRateStream._spectral_flux


def spectral_flux(audio: np.ndarray, sample_rate: int) -> float:
    """Mean L1 change of the spectral magnitude between successive 25 ms Hann-windowed frames
    (hop 12.5 ms) of `audio`; 0.0 when it holds fewer than two frames."""
    frame_length = int(sample_rate * FRAME_S)
    hop_length = frame_length // 2
    if hop_length <= 0 or len(audio) < frame_length:
        return 0.0
    count = (len(audio) - frame_length) // hop_length + 1
    if count < 2:
        return 0.0
    frames = np.lib.stride_tricks.sliding_window_view(audio, frame_length)[::hop_length][:count]
    window = np.hanning(frame_length)
    scale = 1.0 / np.sqrt(np.sum(window**2))
    magnitudes = np.abs(np.fft.rfft(frames * window, axis=1) * scale)
    return float(np.mean(np.sum(np.abs(np.diff(magnitudes, axis=0)), axis=1)))


def _vectorized(self: SpeakingRateStream, audio: np.ndarray, sample_rate: int) -> float:
    return spectral_flux(audio, sample_rate)


def agrees(sample_rate: int = 24000) -> bool:
    """The one-pass flux equals livekit's own on a second of changing tones and noise."""
    rng = np.random.default_rng(7)
    t = np.arange(sample_rate) / sample_rate
    tone = np.sin(2 * np.pi * (200 + 300 * t) * t) * (0.5 + 0.5 * np.sin(2 * np.pi * 3 * t))
    audio = (0.3 * tone + 0.01 * rng.standard_normal(sample_rate)).astype(np.float32)
    stream = SpeakingRateStream.__new__(SpeakingRateStream)  # the method reads nothing of it
    theirs = _original(stream, audio, sample_rate)
    return bool(np.isclose(spectral_flux(audio, sample_rate), theirs, rtol=1e-9, atol=0.0))


def install() -> bool:
    """Use the one-pass flux in every speaking-rate stream of this process (and of the call
    processes forked from it), if it agrees with livekit's; True when it is in use."""
    if SpeakingRateStream._spectral_flux is _vectorized:
        return True
    if not agrees():
        logger.warning("speaking rate: livekit's estimate changed; its own loop is kept")
        return False
    SpeakingRateStream._spectral_flux = _vectorized  # type: ignore[method-assign]
    return True
