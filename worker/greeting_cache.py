"""Greetings rendered once per persona and voice, kept on disk, played the moment a call's
audio flows instead of being synthesized while the caller listens to silence.

A greeting without `{variables}` is the same on every call, so its audio is too. It is kept as
`<GREETING_CACHE_DIR>/<key>.wav`, where the key is a hash of everything the audio depends on:
the text, the persona's `tts` settings (provider, voice, language, endpoint, ...), the TTS's
own provider, model and output sample rate. Editing a persona's greeting or voice changes the
key, so the next call renders (and caches) the new audio and the old file is never read again:
nothing has to be invalidated by hand.

Rendering happens off the call path: when a worker starts, a short-lived process renders every
persona's greetings (`warm_in_background`); a greeting still missing at call time (a persona
added or edited since) is synthesized at call start and written for the next call
(`worker.greeting`). Files are written atomically (`worker.audio_file`); a lock on the
folder keeps workers starting together from each paying the cloud TTS for the same greeting.
Old files are not removed: one per greeting and voice a persona ever had, a few hundred KB each.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import json
import logging
import os
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

from livekit import rtc
from livekit.agents import DEFAULT_API_CONNECT_OPTIONS, APIConnectOptions, tts, utils

from dialroom.paths import ROOT
from dialroom.persona import Persona, PersonaError, SpeechConfig, available, load_persona
from dialroom.templates import names
from worker.audio_file import read_wav, write_wav

logger = logging.getLogger("dialroom.worker")


def cacheable(template: str) -> bool:
    """A greeting the same on every call: one without `{name}` placeholders."""
    return not names(template)


def greeting_key(text: str, speech: SpeechConfig, voice: tts.TTS) -> str:
    """What the greeting's audio depends on, hashed: any change gives another file."""
    identity = {
        "text": text,
        "speech": speech.model_dump(mode="json"),
        "provider": voice.provider,
        "model": voice.model,
        "sample_rate": voice.sample_rate,
    }
    if render := getattr(voice, "render", None):  # a local voice's own processing (Piper's)
        identity["render"] = render
    digest = hashlib.sha256(json.dumps(identity, sort_keys=True).encode())
    return digest.hexdigest()[:24]


def cached_path(root: Path, text: str, speech: SpeechConfig, voice: tts.TTS) -> Path:
    return root / f"{greeting_key(text, speech, voice)}.wav"


async def synthesize(
    voice: tts.TTS, text: str, *, conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS
) -> AsyncIterator[rtc.AudioFrame]:
    """`text` through `voice` as a session says a reply: a voice that takes whole texts (Azure,
    Piper) one sentence at a time, so the first sentence's audio comes without waiting for
    the rest; frames as the provider sends them."""
    adapter = voice if voice.capabilities.streaming else tts.StreamAdapter(tts=voice)
    try:
        async with adapter.stream(conn_options=conn_options) as stream:
            stream.push_text(text)
            stream.end_input()
            async for event in stream:
                yield event.frame
    finally:
        if adapter is not voice:
            await adapter.aclose()


async def render(voice: tts.TTS, text: str) -> rtc.AudioFrame:
    """All of `text` through `voice`, as one frame."""
    frames = [frame async for frame in synthesize(voice, text)]
    if not frames:
        raise RuntimeError(f"{voice.provider} returned no audio for the greeting")
    return rtc.combine_audio_frames(frames)


@contextlib.contextmanager
def _locked(root: Path) -> Iterator[None]:
    """Held while one process renders into `root`; another waits, then finds the file there."""
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".render.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


async def ensure(root: Path, text: str, speech: SpeechConfig, voice: tts.TTS) -> Path:
    """The cached greeting's file, rendered first when it is missing."""
    path = cached_path(root, text, speech, voice)
    with _locked(root):
        if read_wav(path) is None:
            write_wav(path, await render(voice, text))
    return path


def persona_greetings(persona: Persona) -> list[str]:
    """The greetings of `persona` that are the same on every call."""
    texts = [persona.greeting.inbound, persona.greeting.outbound or ""]
    return [text for text in dict.fromkeys(texts) if text and cacheable(text)]


async def warm(root: Path, agents_dir: Path, prompts_dir: Path) -> int:
    """Render every persona's cacheable greetings that are not cached yet; how many are."""
    from worker.providers import ProviderConfigError, build_tts, check_keys
    from worker.settings import ProviderKeys

    keys, ready = ProviderKeys(), 0
    async with utils.http_context.open():
        for name in available(agents_dir):
            try:
                persona = load_persona(name, agents_dir=agents_dir, prompts_dir=prompts_dir)
                check_keys(persona, keys)
                voice = build_tts(persona.tts, keys)
            except (PersonaError, ProviderConfigError, ValueError, OSError) as err:
                logger.info("greeting cache: skipping persona %s: %s", name, err)
                continue
            for text in persona_greetings(persona):
                try:
                    await ensure(root, text, persona.tts, voice)
                    ready += 1
                except Exception as err:  # a provider down now: calls render it on first use
                    logger.warning("greeting cache: persona %s not rendered: %s", name, err)
            await voice.aclose()
    return ready


def warm_in_background(root: Path, agents_dir: Path, prompts_dir: Path) -> threading.Thread:
    """Render the greetings in a process of its own, without holding up the worker's start:
    the worker's main process never loads a voice, and a call that comes first still works."""
    env = {k: v for k, v in os.environ.items() if k != "DIALROOM_SHARED_SPEECH"}
    command = [sys.executable, "-m", "worker.greeting_cache", str(root)]
    command += [str(agents_dir), str(prompts_dir)]

    def run() -> None:
        done = subprocess.run(
            command, cwd=ROOT, env=env, check=False, capture_output=True, text=True
        )
        if done.returncode != 0:
            logger.warning("greeting cache: render failed: %s", done.stderr.strip()[-500:])

    thread = threading.Thread(target=run, name="dialroom-greeting-cache", daemon=True)
    thread.start()
    return thread


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    root_arg, agents_arg, prompts_arg = sys.argv[1:4]
    count = asyncio.run(warm(Path(root_arg), Path(agents_arg), Path(prompts_arg)))
    logger.info("greeting cache: %d greetings ready in %s", count, root_arg)
