"""Speech rendered ahead of a call, kept as a WAV file: the apology and the cached greetings.

Several processes may render the same file at once (every call process of every worker, the
worker's start-up render): each writes its own temporary file and renames it into place, so a
reader sees either no file or a whole one, never a half-written WAV.
"""

from __future__ import annotations

import logging
import os
import uuid
import wave
from collections.abc import AsyncIterator
from pathlib import Path

from livekit import rtc

logger = logging.getLogger("dialroom.worker")

FRAME_MS = 20  # what a room's audio track sends; a whole file is played in frames this long


def write_wav(path: Path, audio: rtc.AudioFrame) -> None:
    """Write mono 16-bit `audio` to `path` atomically (a temporary file, then a rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f"{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.partial")
    try:
        with wave.open(str(partial), "wb") as wav:
            wav.setnchannels(1)
            wav.setsampwidth(2)
            wav.setframerate(audio.sample_rate)
            wav.writeframes(bytes(memoryview(audio.data).cast("B")))
        partial.replace(path)
    finally:
        partial.unlink(missing_ok=True)


def read_wav(path: Path) -> rtc.AudioFrame | None:
    """The WAV at `path` as one frame; None when there is none, or it is not a mono 16-bit WAV
    (then it is rendered again, and the rename replaces it)."""
    try:
        with wave.open(str(path), "rb") as wav:
            if wav.getnchannels() != 1 or wav.getsampwidth() != 2:
                return None
            rate, pcm = wav.getframerate(), wav.readframes(wav.getnframes())
    except FileNotFoundError:
        return None
    except (wave.Error, EOFError, OSError) as err:
        logger.warning("unreadable cached audio %s: %s", path, err)
        return None
    if not pcm:
        return None
    return rtc.AudioFrame(
        data=pcm, sample_rate=rate, num_channels=1, samples_per_channel=len(pcm) // 2
    )


def split(whole: rtc.AudioFrame, *, frame_ms: int = FRAME_MS) -> list[rtc.AudioFrame]:
    """`whole` (mono) cut into frames of `frame_ms`, as a track plays them."""
    step = max(1, whole.sample_rate * frame_ms // 1000)
    data = memoryview(whole.data).cast("B")
    frames = []
    for start in range(0, whole.samples_per_channel, step):
        count = min(step, whole.samples_per_channel - start)
        frames.append(
            rtc.AudioFrame(
                data=bytes(data[start * 2 : (start + count) * 2]),
                sample_rate=whole.sample_rate,
                num_channels=1,
                samples_per_channel=count,
            )
        )
    return frames


async def play(whole: rtc.AudioFrame) -> AsyncIterator[rtc.AudioFrame]:
    """`whole` as the audio stream `AgentSession.say(text, audio=...)` takes."""
    for frame in split(whole):
        yield frame
