"""A reply's audio starts at its first sound, not at the voice's leading silence.

Speech synthesizers start an utterance with silence: Piper 30-60 ms before the first phoneme
(the demo's voice, and the cloud fakes' speech), Azure's neural voices a "natural" leading
silence of their own (what SSML's `mstts:silence type="Leading-exact"` replaces). The caller
waits through it like any other part of the reply's latency. So the worker drops it: the
10 ms windows of an utterance's start that are quieter than `SILENT_DBFS`, but one (the quiet
ramp just before the first phoneme, kept so a plosive keeps its attack), and never more than
`MAX_TRIM_S` of it (what is still silent after that is left as it came).

Only the start of each utterance is touched: once its first sound has gone out, every frame
passes as it came, the pauses between its sentences included.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterable, AsyncIterator
from typing import TypeVar

import numpy as np
from livekit import rtc

SILENT_DBFS = -50.0  # a 10 ms window below this is silence on a phone line (G.711 floor ~-70)
WINDOW_S = 0.01
KEEP_S = 0.01  # of the quiet audio right before the first sound
MAX_TRIM_S = 0.3

Item = TypeVar("Item")


async def from_first_sound(frames: AsyncIterable[Item]) -> AsyncIterator[Item]:
    """`frames` from the utterance's first sound on (see the module's docstring); anything
    that is not an `rtc.AudioFrame` passes as it is."""
    start = _Start()
    async for frame in frames:
        if start.found or not isinstance(frame, rtc.AudioFrame):
            yield frame
            continue
        for kept in start.feed(frame):
            yield kept  # type: ignore[misc]  # an AudioFrame where Item is one


class _Start:
    """The silent frames of an utterance's start, dropped until its first sound."""

    def __init__(self) -> None:
        self.found = False
        self._dropped = 0  # samples per channel
        self._before: np.ndarray | None = None  # the last KEEP_S of what was dropped

    def feed(self, frame: rtc.AudioFrame) -> list[rtc.AudioFrame]:
        samples = np.frombuffer(frame.data, dtype=np.int16)
        channels = frame.num_channels
        window = max(1, round(frame.sample_rate * WINDOW_S)) * channels
        loud = _first_loud(samples, window)
        if loud is None and self._dropped + frame.samples_per_channel <= round(
            frame.sample_rate * MAX_TRIM_S
        ):
            self._dropped += frame.samples_per_channel
            self._remember(samples, keep=round(frame.sample_rate * KEEP_S) * channels)
            return []
        self.found = True
        if loud is None:  # silent for longer than MAX_TRIM_S: left as it is from here
            return [frame]
        before = self._before if self._before is not None else samples[:0]
        begin = len(before) + loud - round(frame.sample_rate * KEEP_S) * channels
        if max(0, begin) == len(before):
            return [frame]  # nothing dropped, or nothing kept of it: the frame as it came
        return [_frame(np.concatenate([before, samples])[max(0, begin) :], frame)]

    def _remember(self, samples: np.ndarray, *, keep: int) -> None:
        joined = samples if self._before is None else np.concatenate([self._before, samples])
        self._before = joined[-keep:] if keep else None


def _first_loud(samples: np.ndarray, window: int) -> int | None:
    """The offset of the first window louder than SILENT_DBFS, or None."""
    floor = 32768.0 * 10 ** (SILENT_DBFS / 20)
    for begin in range(0, len(samples), window):
        chunk = samples[begin : begin + window].astype(np.float64)
        if chunk.size and math.sqrt(float(np.mean(chunk * chunk))) > floor:
            return begin
    return None


def _frame(samples: np.ndarray, like: rtc.AudioFrame) -> rtc.AudioFrame:
    return rtc.AudioFrame(
        data=samples.astype(np.int16).tobytes(),
        sample_rate=like.sample_rate,
        num_channels=like.num_channels,
        samples_per_channel=len(samples) // like.num_channels,
    )
