"""The call's voice activity detector, built from the persona's turn settings.

livekit-agents builds a silero VAD itself when none is given, ending speech after 0.25 s of
silence. With a streaming STT that silence costs nothing: it is counted inside the endpointing
delay (the turn's wait is back-dated to the last voiced sample), and Azure's interim text needs
about that long to catch up with the last word (`interim_commit`). A non-streaming STT (local
Whisper) would start transcribing only when the VAD ends speech, so there the silence is on the
reply's path; `whisper_stream` starts it at the caller's first pause instead, and the silence
overlaps Whisper's time. Shorter is not safe as a default: on the offline
demo 0.15 s took ~0.1 s off the worker's end of turn, but split 1 caller line in 16 at its
comma into two turns (0.10 s: 2 in 6); bench/README.md, "audio path". So the default stays
livekit-agents' 0.25 s and a persona may set its own (`turn.vad_min_silence_s`).

A call's VAD (`build_call_vad`) also places the end of speech at the line's last loud window
(`speech_end`): silero's probability trails the last syllable by 0.10-0.16 s, and the
endpointing delay counts from where the VAD places the end.

The silero model runs in the event loop's thread (`InlineExecutor`). livekit-agents gives each
VAD stream a one-thread pool and hands every 32 ms window to it: a thread wake-up, a GIL
hand-over and a wake-up of the loop through its self-pipe, ~31 times a second per stream, and a
call with a non-streaming STT (OpenAI) runs two streams (the session's and the STT's
`StreamAdapter`). The model itself takes ~0.04 ms a window, far less than the hand-over
(`bench/README.md`, "Measured (2026-12-06)"). Inline, the window's result goes back to the
awaiting task without a trip through the loop either (`InlineExecutor`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import Executor, Future
from typing import Any, TypeVar

from livekit.agents import inference

from dialroom.persona import Persona
from worker.providers.speech_end import EndAtLastVoiceVAD

T = TypeVar("T")


class InlineExecutor(Executor):
    """Runs each call at once in the caller's thread and returns its finished future.

    Called from a running event loop (the VAD's `loop.run_in_executor`), the future is an
    asyncio one: `run_in_executor` hands it back as it is and the awaiting task reads its result
    without suspending. A `concurrent.futures.Future` would be wrapped in an asyncio future that
    completes only through `call_soon_threadsafe`: a write to the loop's self-pipe and a loop
    iteration for each 32 ms window (bench/README.md, "one VAD stream per call")."""

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        future = _finished_future()
        try:
            future.set_result(fn(*args, **kwargs))
        except Exception as exc:  # the awaiting task sees it, as with a pool
            future.set_exception(exc)
        return future  # type: ignore[return-value]  # asyncio's: result() and done() alike


def _finished_future() -> asyncio.Future[Any] | Future[Any]:
    try:
        return asyncio.get_running_loop().create_future()
    except RuntimeError:  # no loop in this thread: a plain one
        return Future()


INLINE = InlineExecutor()


def vad_silence_s(persona: Persona) -> float:
    """Seconds of silence before the persona's VAD ends speech (`turn.vad_min_silence_s`)."""
    return persona.turn.vad_min_silence_s


def build_vad(persona: Persona) -> inference.VAD:
    """Silero (built into livekit-agents) with the persona's silence, run inline."""
    return inference.VAD(
        model="silero", min_silence_duration=vad_silence_s(persona), executor=INLINE
    )


def build_call_vad(persona: Persona) -> inference.VAD:
    """The call's VAD: `build_vad`'s silero, its end of speech at the last loud window."""
    return EndAtLastVoiceVAD(
        model="silero", min_silence_duration=vad_silence_s(persona), executor=INLINE
    )
