"""A call's greeting as audio, ready before the greeting is said.

A greeting the same on every call comes from the disk cache (`worker.greeting_cache`): no TTS
request at all, the first frame plays as soon as the session says it. Any other greeting (one
with `{caller_name}`, an API call's own) is synthesized when the call is prepared, which is
before the dial on an outbound call and before the session starts on an inbound one, so the
provider's time to first audio is spent while the phone rings, not while the callee listens.
A cacheable greeting missing from the cache (a persona edited since the worker started) is
synthesized the same way and written to the cache for the next call.

If that early synthesis fails, the greeting is said by the session's own TTS path after all,
so a broken provider surfaces as the session's error (and its apology), never as silence.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterable, AsyncIterator, Callable
from pathlib import Path
from typing import Literal

from livekit import rtc
from livekit.agents import DEFAULT_API_CONNECT_OPTIONS, APIConnectOptions, tts

from dialroom.persona import SpeechConfig
from worker.audio_file import read_wav, split, write_wav
from worker.greeting_cache import cached_path, synthesize

logger = logging.getLogger("dialroom.worker")

Source = Literal["pending", "cache", "synthesized", "failed"]


class GreetingAudio:
    """Fetches one greeting's audio (`start`), then plays it (`frames`) even while it is
    still arriving."""

    def __init__(
        self,
        text: str,
        *,
        voice: tts.TTS,
        speech: SpeechConfig,
        cache_root: Path | None,
        conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS,
    ) -> None:
        self._text, self._voice, self._conn_options = text, voice, conn_options
        # None: not cacheable (the greeting has this call's variables in it)
        self._path = cached_path(cache_root, text, speech, voice) if cache_root else None
        self._frames: list[rtc.AudioFrame] = []
        self._changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.source: Source = "pending"

    def start(self) -> None:
        self._task = asyncio.create_task(self._fetch(), name="dialroom-greeting-audio")

    async def settled(self) -> None:
        """Wait until the audio is fetched and, if it was rendered, written to the cache."""
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _fetch(self) -> None:
        try:
            if await self._from_cache():
                return
            await self._synthesize()
        except asyncio.CancelledError:
            self._finish("failed")
            raise
        except Exception as err:
            logger.warning("greeting not synthesized ahead, said live instead: %s", err)
            self._finish("failed")
            return
        if self._path is not None and self._frames:
            whole = rtc.combine_audio_frames(self._frames)
            try:
                await asyncio.to_thread(write_wav, self._path, whole)
            except OSError as err:
                logger.warning("greeting not cached in %s: %s", self._path, err)

    async def _from_cache(self) -> bool:
        if self._path is None:
            return False
        cached = await asyncio.to_thread(read_wav, self._path)
        if cached is None:
            return False
        self._frames.extend(split(cached))
        self._finish("cache")
        return True

    async def _synthesize(self) -> None:
        async for frame in synthesize(self._voice, self._text, conn_options=self._conn_options):
            self._frames.append(frame)
            self._changed.set()
        if not self._frames:
            raise RuntimeError(f"{self._voice.provider} returned no audio")
        self._finish("synthesized")

    def _finish(self, source: Source) -> None:
        self.source = source
        self._changed.set()

    async def frames(
        self, fallback: Callable[[], AsyncIterable[rtc.AudioFrame]]
    ) -> AsyncIterator[rtc.AudioFrame]:
        """The greeting's frames as they become available, the call's loop running after each;
        `fallback()`'s when fetching it failed before any frame came.

        A cached greeting is all there at once. Taken in one go, every frame would reach
        livekit-agents' transcript synchronizer (it times the agent's words to its audio, so an
        interrupted reply is recorded as far as the caller heard it) before the room output
        sent the first, and its speaking-rate analysis (an STFT, ~2 ms of the loop per 0.1 s
        of audio) would run over the whole greeting first: 0.14-0.16 s later at the phone
        (`bench/README.md`, "Known lines")."""
        async for frame in self._available(fallback):
            yield frame
            await asyncio.sleep(0)

    async def _available(
        self, fallback: Callable[[], AsyncIterable[rtc.AudioFrame]]
    ) -> AsyncIterator[rtc.AudioFrame]:
        sent = 0
        while True:
            while sent < len(self._frames):
                yield self._frames[sent]
                sent += 1
            if self.source in ("cache", "synthesized"):
                return
            if self.source == "failed":
                if sent == 0:
                    async for frame in fallback():
                        yield frame
                return
            await self._changed.wait()
            self._changed.clear()
