"""A call process's steady per-frame cost: the VAD runs in the event loop's thread."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from livekit import rtc
from livekit.agents import vad

from dialroom.persona import load_persona
from worker.providers.vad import INLINE, build_vad

pytestmark = pytest.mark.unit


def test_the_inline_executor_runs_in_the_callers_thread_and_keeps_errors() -> None:
    assert INLINE.submit(threading.get_ident).result() == threading.get_ident()
    failed = INLINE.submit(int, "not a number")
    with pytest.raises(ValueError):
        failed.result()


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
