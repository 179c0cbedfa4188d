"""Audio in and out of an AgentSession without a room: a caller from a WAV, a captured agent.

`CapturedAudio` subclasses livekit's `io.AudioOutput` and plays out instantly (a segment
"finishes" as soon as it is flushed), keeping every frame the agent says. `WavCaller`
subclasses `io.AudioInput`: silence, then a WAV, then silence, in real time, 20 ms frames.
Assign them to `session.output.audio` / `session.input.audio` before `session.start()`.
"""

from __future__ import annotations

import asyncio
import time
import wave
from pathlib import Path

from livekit import rtc
from livekit.agents.voice import io


class CapturedAudio(io.AudioOutput):
    def __init__(self) -> None:
        super().__init__(label="captured", capabilities=io.AudioOutputCapabilities(pause=False))
        self.frames: list[rtc.AudioFrame] = []
        self.segments = 0
        self._segment_s = 0.0

    @property
    def seconds(self) -> float:
        return sum(f.duration for f in self.frames)

    async def capture_frame(self, frame: rtc.AudioFrame) -> None:
        await super().capture_frame(frame)
        if not self._segment_s:
            self.on_playback_started(created_at=time.time())
        self._segment_s += frame.duration
        self.frames.append(frame)

    def flush(self) -> None:
        super().flush()
        if self._segment_s:
            self.segments += 1
            self.on_playback_finished(playback_position=self._segment_s, interrupted=False)
            self._segment_s = 0.0

    def clear_buffer(self) -> None:
        if self._segment_s:
            self.on_playback_finished(playback_position=self._segment_s, interrupted=True)
            self._segment_s = 0.0


class WavCaller(io.AudioInput):
    FRAME_S = 0.02

    def __init__(self, wav: Path, *, lead_s: float = 1.0) -> None:
        super().__init__(label="wav-caller")
        with wave.open(str(wav)) as f:
            self.rate = f.getframerate()
            pcm = f.readframes(f.getnframes())
        step = int(self.rate * self.FRAME_S)
        lead = b"\x00\x00" * int(self.rate * lead_s)
        speech = lead + pcm
        self._chunks = [speech[i : i + step * 2] for i in range(0, len(speech), step * 2)]
        self._silence = b"\x00\x00" * step
        self._next_at: float | None = None

    async def __anext__(self) -> rtc.AudioFrame:
        now = time.monotonic()
        self._next_at = (self._next_at or now) + self.FRAME_S
        await asyncio.sleep(max(0.0, self._next_at - now))
        chunk = self._chunks.pop(0) if self._chunks else self._silence
        chunk = chunk.ljust(len(self._silence), b"\x00")
        return rtc.AudioFrame(
            data=chunk, sample_rate=self.rate, num_channels=1, samples_per_channel=len(chunk) // 2
        )
