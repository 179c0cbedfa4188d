"""A call process's steady per-frame cost: the VAD runs in the event loop's thread."""

from __future__ import annotations

import asyncio
import threading

import numpy as np
import pytest
from livekit import rtc
from livekit.agents import vad

from dialroom.persona import load_persona
from worker.providers.vad import INLINE, build_call_vad, build_vad

pytestmark = pytest.mark.unit


def test_the_inline_executor_runs_in_the_callers_thread_and_keeps_errors() -> None:
    assert INLINE.submit(threading.get_ident).result() == threading.get_ident()
    failed = INLINE.submit(int, "not a number")
    with pytest.raises(ValueError):
        failed.result()


async def test_a_window_scored_inline_needs_no_trip_through_the_loop() -> None:
    """livekit's VAD awaits `loop.run_in_executor(executor, predict, window)`: inline, that is a
    finished future, not one completed later by a callback through the loop's self-pipe."""
    loop = asyncio.get_running_loop()
    scored = loop.run_in_executor(INLINE, threading.get_ident)
    assert scored.done() and scored.result() == threading.get_ident()
    failed = loop.run_in_executor(INLINE, int, "not a number")
    assert failed.done()
    with pytest.raises(ValueError):
        await failed


async def test_the_vad_infers_without_a_thread_of_its_own() -> None:
    stream = build_vad(load_persona("demo")).stream()
    silence = np.zeros(160, dtype=np.int16).tobytes()
    for _ in range(20):  # 0.2 s of 10 ms frames at 16 kHz: six 32 ms windows
        stream.push_frame(rtc.AudioFrame(silence, 16000, 1, 160))
    stream.end_input()
    done = [e async for e in stream if e.type == vad.VADEventType.INFERENCE_DONE]
    await stream.aclose()
    assert len(done) == 6
    assert not [t.name for t in threading.enumerate() if t.name.startswith("inference.vad")]


async def test_the_calls_vad_is_one_stream_as_livekits_own() -> None:
    """The end of speech by energy is read off livekit's silero stream, not from a second
    stream around it (its own channels, tasks and metrics for every 32 ms window)."""
    persona = load_persona("demo")

    async def tasks_started(voice: vad.VAD) -> tuple[int, vad.VADStream]:
        before = len(asyncio.all_tasks())
        stream = voice.stream()
        return len(asyncio.all_tasks()) - before, stream

    call_vad = build_call_vad(persona)
    own_tasks, own = await tasks_started(build_vad(persona))
    call_tasks, call = await tasks_started(call_vad)
    assert call_tasks == own_tasks
    call_vad.update_options(min_silence_duration=0.6)  # the session's turn settings reach it
    assert call._opts.min_silence_duration == 0.6  # type: ignore[attr-defined]
    await own.aclose()
    await call.aclose()
