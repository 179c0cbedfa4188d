"""Where a recording has voice: 20 ms windows whose loudness is above a threshold.

The phone's recordings hold only the far end (the phone never records its own lines), so a
voiced window is the agent speaking; latencies are read from these windows.
"""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np

THRESHOLD = 0.01  # RMS, of full scale: above a line's comfort noise, below any speech
WINDOW_S = 0.02


def voiced(
    samples: np.ndarray, *, rate: int, threshold: float = THRESHOLD, window_s: float = WINDOW_S
) -> np.ndarray:
    """Which `window_s` windows of 16-bit `samples` have RMS above `threshold`."""
    size = max(1, int(rate * window_s))
    frames = samples[: len(samples) // size * size].reshape(-1, size) / 32768.0
    return np.sqrt(np.mean(frames.astype(np.float64) ** 2, axis=1)) > threshold


def voice_windows(
    wav: Path, *, threshold: float = THRESHOLD, window_s: float = WINDOW_S
) -> np.ndarray:
    """Which `window_s` windows of a 16-bit mono WAV have RMS above `threshold` (of full scale)."""
    with wave.open(str(wav), "rb") as w:
        rate = w.getframerate()
        samples = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
    return voiced(samples, rate=rate, threshold=threshold, window_s=window_s)


def first_voice_offset(
    wav: Path, *, after_s: float = 0.0, threshold: float = THRESHOLD, window_s: float = WINDOW_S
) -> float | None:
    """Seconds into the recording where sound first appears (at or after `after_s`).

    Add it to the call's `media_active_at` to get the wall-clock time the far end was heard.
    """
    windows = voice_windows(wav, threshold=threshold, window_s=window_s)
    first = int(after_s / window_s)
    hits = np.flatnonzero(windows[first:])
    return None if hits.size == 0 else (first + int(hits[0])) * window_s


def voiced_seconds(wav: Path, *, threshold: float = THRESHOLD, window_s: float = WINDOW_S) -> float:
    """Total seconds of the recording that are not silence."""
    return float(voice_windows(wav, threshold=threshold, window_s=window_s).sum() * window_s)


def speech_end(wav: Path, *, window_s: float = WINDOW_S) -> float:
    """Seconds from the start of `wav` to past its last voiced window (a caller line's end,
    without the silence piper leaves after it); the whole length if it is silent."""
    windows = np.flatnonzero(voice_windows(wav, window_s=window_s))
    if windows.size == 0:
        with wave.open(str(wav), "rb") as w:
            return w.getnframes() / w.getframerate()
    return float((windows[-1] + 1) * window_s)
