"""Local Whisper and Piper, loaded once per worker and shared by all its calls.

Each call runs in its own process. If every call process loaded the local models itself, a
call would cost ~300 MB and seconds of start-up, whether its persona used them or not. So
the models live in the worker's one inference process (livekit-agents' own, the one its
end-of-turn model uses), loaded only when a persona on this box uses local speech; a call
sends it audio or text over the framework's IPC and gets text or audio back.

`register_if_used` runs in the worker's main process before it starts; it records its
choice in the environment, which every call process inherits. Outside a worker (tests,
`start.py chat`, fixture rendering) or when a persona switched to local speech after the
worker started, `infer` runs the model in the calling process instead: slower to start,
never wrong.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np
from livekit.agents import get_job_context
from livekit.agents.inference_runner import _InferenceRunner

from dialroom.persona import Persona, PersonaError, available, load_persona

logger = logging.getLogger("dialroom.worker")

WHISPER = "dialroom_whisper"
PIPER = "dialroom_piper"
RUNNERS_ENV = "DIALROOM_SHARED_SPEECH"  # methods the worker's inference process serves
PERSONAS_ENV = "DIALROOM_SHARED_SPEECH_PERSONAS"  # agents and prompts folders, os.pathsep-joined


class WhisperRunner(_InferenceRunner):
    """Request: language, a newline, 16 kHz mono int16 PCM. Response: the text, UTF-8."""

    INFERENCE_METHOD = WHISPER

    def initialize(self) -> None:
        from worker.providers import local_stt

        local_stt.load_model()

    def run(self, data: bytes) -> bytes | None:
        from worker.providers.local_stt import transcribe_audio

        language, _, pcm = data.partition(b"\n")
        audio = np.frombuffer(pcm, dtype=np.int16).astype(np.float32) / 32768.0
        return transcribe_audio(audio, language=language.decode(), one_turn=True).encode()


class PiperRunner(_InferenceRunner):
    """Request: the text, UTF-8. Response: mono int16 PCM at the voice's own rate.

    The flow personas' known lines are rendered once, in the background, and served from
    memory (`known_lines`)."""

    INFERENCE_METHOD = PIPER

    def initialize(self) -> None:
        from worker.providers import local_tts
        from worker.providers.known_lines import KnownLines, flow_sentences

        local_tts.load_voice()
        self.known = KnownLines()
        self.warming: threading.Thread | None = None
        if folders := os.environ.get(PERSONAS_ENV):
            agents_dir, prompts_dir = (Path(p) for p in folders.split(os.pathsep))
            sentences = flow_sentences(agents_dir, prompts_dir)
            self.warming = self.known.render_in_background(sentences, local_tts.synthesize_pcm)

    def run(self, data: bytes) -> bytes | None:
        from worker.providers.local_tts import synthesize_pcm

        text = data.decode()
        return self.known.get(text) or synthesize_pcm(text)


def readable_personas(agents_dir: Path, prompts_dir: Path) -> list[Persona]:
    """The personas in `agents_dir` that load; an unreadable one is left out."""
    personas: list[Persona] = []
    for name in available(agents_dir):
        try:
            personas.append(load_persona(name, agents_dir=agents_dir, prompts_dir=prompts_dir))
        except (PersonaError, OSError, UnicodeDecodeError):
            continue  # `personas check` names it; the worker still serves the others
    return personas


def local_speech_used(agents_dir: Path, prompts_dir: Path) -> set[str]:
    """Which shared models the personas in `agents_dir` use (an unreadable one counts none)."""
    used: set[str] = set()
    for persona in readable_personas(agents_dir, prompts_dir):
        if persona.stt.provider == "local":
            used.add(WHISPER)
        if persona.tts.provider == "local":
            used.add(PIPER)
    return used


def register_if_used(agents_dir: Path, prompts_dir: Path) -> set[str]:
    """Register the runners some persona needs; call on the main thread, before the worker
    runs (the framework starts its inference process only when a runner is registered)."""
    used = local_speech_used(agents_dir, prompts_dir)
    for runner in (WhisperRunner, PiperRunner):
        if runner.INFERENCE_METHOD in used:
            _InferenceRunner.register_runner(runner)
    os.environ[RUNNERS_ENV] = ",".join(sorted(used))
    os.environ[PERSONAS_ENV] = os.pathsep.join((str(agents_dir), str(prompts_dir)))
    return used


def _shared(method: str) -> bool:
    return method in os.environ.get(RUNNERS_ENV, "").split(",")


async def infer(method: str, data: bytes, here: Callable[[], bytes]) -> bytes:
    """`method` run by the worker's inference process when it serves it, else `here()` in a
    thread of this process."""
    if _shared(method):
        ctx = get_job_context(required=False)  # None outside a call
        if ctx is not None:
            result = await ctx.inference_executor.do_inference(method, data)
            return result or b""
    if os.environ.get(RUNNERS_ENV) is not None:
        logger.warning("%s is not shared on this worker: loading it in the call process", method)
    return await asyncio.to_thread(here)
