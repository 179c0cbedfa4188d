"""Counts the livekit-rtc log records that reach Python while audio flows through a real room.

    python -m tests.support.native_log_probe ws://127.0.0.1:7880 probe-room

Two participants in this process, one sending a tone to the other. First as livekit starts
its runtime (log capture on), then after `worker.rust_logs.keep_native`; prints one line,
`<records before> <records after>`, counting every record the native library handed Python.
`bench.native_logs` times the same exchange.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import numpy as np
from livekit import rtc
from livekit.rtc import _ffi_client

from tests.support.room_guest import room_token
from worker import rust_logs

RATE = 24000
FRAME = RATE // 50  # 20 ms, as a TTS's audio reaches the room


def count_handed_records() -> list[int]:
    """From now on in this process, `[n]`: the native log records livekit handed Python."""
    handed = [0]
    to_level = _ffi_client.to_python_level

    def counting(level: int) -> int | None:  # livekit calls it once per record handed over
        handed[0] += 1
        return to_level(level)

    _ffi_client.to_python_level = counting
    return handed


@asynccontextmanager
async def tone_between_two(
    url: str, room: str
) -> AsyncIterator[Callable[[float], Awaitable[None]]]:
    """Two participants of `room`, the listener reading as a call reads its caller (16 kHz,
    50 ms frames); yields `send(seconds)`, which plays a 440 Hz tone from the other."""
    sender, listener = rtc.Room(), rtc.Room()
    await sender.connect(url, room_token(room, "probe-sender"))
    await listener.connect(url, room_token(room, "probe-listener"))
    source = rtc.AudioSource(RATE, 1)
    subscribed: asyncio.Future[rtc.Track] = asyncio.get_running_loop().create_future()
    listener.on("track_subscribed", lambda t, *_: subscribed.done() or subscribed.set_result(t))
    await sender.local_participant.publish_track(
        rtc.LocalAudioTrack.create_audio_track("tone", source)
    )
    stream = rtc.AudioStream.from_track(
        track=await asyncio.wait_for(subscribed, 15), sample_rate=16000, frame_size_ms=50
    )
    reading = asyncio.create_task(_drain(stream))
    tone = (np.sin(np.arange(FRAME) * 2 * np.pi * 440 / RATE) * 8000).astype(np.int16).tobytes()

    async def send(seconds: float) -> None:
        for _ in range(int(seconds * 50)):
            await source.capture_frame(rtc.AudioFrame(tone, RATE, 1, FRAME))

    try:
        yield send
    finally:
        reading.cancel()
        await sender.disconnect()
        await listener.disconnect()


async def _drain(stream: rtc.AudioStream) -> None:
    async for _ in stream:
        pass


async def probe(url: str, room: str, seconds: float) -> tuple[int, int]:
    handed = count_handed_records()
    async with tone_between_two(url, room) as send:
        await send(seconds)
        before = handed[0]
        rust_logs.keep_native()
        handed[0] = 0
        await send(seconds)
        return before, handed[0]


if __name__ == "__main__":
    seconds = float(sys.argv[3]) if sys.argv[3:] else 4.0
    print(*asyncio.run(probe(sys.argv[1], sys.argv[2], seconds)), flush=True)
