"""A call's caller audio as AudioRecognition hands it out: each frame to the session's VAD
stream and to the STT stream, both read as they go. For the unit tests of the STT that follows
the call's VAD (`tests/unit/test_shared_vad_stt.py`) and its benchmark (`bench.vad_streams`)."""

from __future__ import annotations

import asyncio

import numpy as np
from livekit import rtc
from livekit.agents import APIConnectOptions, stt, utils, vad

from tests.support.fixtures import FIXTURES_DIR
from worker.audio_file import read_wav

TUESDAY_WAV = FIXTURES_DIR / "caller_tuesday.wav"


class RecordingSTT(stt.STT):
    """The cloud recogniser's stand-in: keeps each buffer, hears "tuesday" in it."""

    def __init__(self) -> None:
        super().__init__(capabilities=stt.STTCapabilities(streaming=False, interim_results=False))
        self.buffers: list[rtc.AudioFrame] = []

    async def _recognize_impl(
        self, buffer: utils.AudioBuffer, *, language: object, conn_options: APIConnectOptions
    ) -> stt.SpeechEvent:
        self.buffers.append(utils.merge_frames(buffer))
        return stt.SpeechEvent(
            stt.SpeechEventType.FINAL_TRANSCRIPT,
            alternatives=[stt.SpeechData(language="en", text="tuesday")],
        )


def caller_frames() -> list[rtc.AudioFrame]:
    """The caller's line and 1 s of silence, in 50 ms frames (the room input's size)."""
    line = read_wav(TUESDAY_WAV)
    assert line is not None
    pcm = np.frombuffer(line.data, dtype=np.int16)
    pcm = np.concatenate([pcm, np.zeros(line.sample_rate, dtype=np.int16)])
    step = line.sample_rate // 20
    return [
        rtc.AudioFrame(pcm[i : i + step].tobytes(), line.sample_rate, 1, len(pcm[i : i + step]))
        for i in range(0, len(pcm), step)
    ]


async def run_call(
    voice: vad.VAD,
    recogniser: stt.STT,
    frames: list[rtc.AudioFrame],
    stt_frames: list[rtc.AudioFrame] | None = None,
) -> tuple[list[vad.VADEvent], list[stt.SpeechEvent]]:
    """What AudioRecognition does: each frame to the session's VAD stream and to the STT
    stream (`stt_frames`: livekit's silent stand-ins for some, else the same frames)."""
    vad_stream, stt_stream = voice.stream(), recogniser.stream()
    vad_events: list[vad.VADEvent] = []
    stt_events: list[stt.SpeechEvent] = []

    async def read_vad() -> None:
        async for event in vad_stream:
            vad_events.append(event)

    async def read_stt() -> None:
        async for event in stt_stream:
            stt_events.append(event)

    readers = [asyncio.create_task(read_vad()), asyncio.create_task(read_stt())]
    for frame, stt_frame in zip(frames, stt_frames or frames, strict=True):
        stt_stream.push_frame(stt_frame)
        vad_stream.push_frame(frame)
        for _ in range(10):
            await asyncio.sleep(0)
    vad_stream.end_input()
    await readers[0]
    stt_stream.end_input()
    await readers[1]
    await vad_stream.aclose()
    await stt_stream.aclose()
    return vad_events, stt_events
