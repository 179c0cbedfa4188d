"""Counts the livekit-rtc log records that reach Python while audio flows through a real room.

    python -m tests.support.native_log_probe ws://127.0.0.1:7880 probe-room

Two participants in this process, one sending a tone to the other. First as livekit starts
its runtime (log capture on), then after `worker.rust_logs.keep_native`; prints one line,
`<records before> <records after>`, counting every record the native library handed Python.
"""

from __future__ import annotations

import asyncio
import sys

import numpy as np
from livekit import rtc
from livekit.rtc import _ffi_client

from tests.support.room_guest import room_token
from worker import rust_logs

RATE = 24000
FRAME = RATE // 50  # 20 ms
received = [0]
_to_level = _ffi_client.to_python_level


def _counting(level: int) -> int | None:
    # livekit calls this once for every native log record it is handed
    received[0] += 1
    return _to_level(level)


async def _send_tone(source: rtc.AudioSource, seconds: float) -> None:
    tone = (np.sin(np.arange(FRAME) * 2 * np.pi * 440 / RATE) * 8000).astype(np.int16)
    for _ in range(int(seconds * 50)):
        await source.capture_frame(rtc.AudioFrame(tone.tobytes(), RATE, 1, FRAME))


async def probe(url: str, room: str, seconds: float) -> tuple[int, int]:
    sender, listener = rtc.Room(), rtc.Room()
    await sender.connect(url, room_token(room, "probe-sender"))
    await listener.connect(url, room_token(room, "probe-listener"))
    source = rtc.AudioSource(RATE, 1)
    track = rtc.LocalAudioTrack.create_audio_track("tone", source)
    subscribed: asyncio.Future[rtc.Track] = asyncio.get_running_loop().create_future()
    listener.on("track_subscribed", lambda t, *_: subscribed.done() or subscribed.set_result(t))
    await sender.local_participant.publish_track(track)
    stream = rtc.AudioStream.from_track(track=await asyncio.wait_for(subscribed, 15))
    reading = asyncio.create_task(_drain(stream))
    await _send_tone(source, seconds)
    before = received[0]
    rust_logs.keep_native()
    received[0] = 0
    await _send_tone(source, seconds)
    after = received[0]
    reading.cancel()
    await sender.disconnect()
    await listener.disconnect()
    return before, after


async def _drain(stream: rtc.AudioStream) -> None:
    async for _ in stream:
        pass


if __name__ == "__main__":
    _ffi_client.to_python_level = _counting
    counts = asyncio.run(
        probe(sys.argv[1], sys.argv[2], float(sys.argv[3]) if sys.argv[3:] else 4.0)
    )
    print(*counts, flush=True)
