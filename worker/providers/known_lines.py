"""Piper's audio for the lines a scripted persona is known to say, rendered before a caller waits
for them.

A `flow` persona's replies are fixed text (`worker.flow.known_replies`: each retry, each
confirmation with every answer filled in), and Piper renders a sentence the same way every time
(zero noise). So the worker's inference process renders every sentence of them once, in the
background after its voice has loaded, and answers a request for one from memory: the reply's
first audio no longer waits for Piper (0.15 s for the demo's confirmation on an idle 2-core box,
more under load). Any other text is rendered as before. A persona edited after the worker
started says its new lines rendered on demand, never an old line: the key is the text itself.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from worker.flow import known_replies
from worker.providers.local_tts import split_sentences
from worker.providers.shared_speech import readable_personas

logger = logging.getLogger("dialroom.worker")

MAX_BYTES = 32 * 1024 * 1024  # ~12 minutes of Piper's 22 kHz audio; the rest renders on demand


def flow_sentences(agents_dir: Path, prompts_dir: Path) -> list[str]:
    """Each sentence, as Piper is asked for it, that the local-voice flow personas in
    `agents_dir` can say whatever the call (an unreadable persona counts none)."""
    sentences: list[str] = []
    for persona in readable_personas(agents_dir, prompts_dir):
        if persona.tts.provider == "local" and persona.llm.provider == "flow":
            for reply in known_replies(persona.flow):
                sentences += split_sentences(reply)
    return list(dict.fromkeys(sentences))


class KnownLines:
    """Rendered sentences, by text; thread-safe, at most `max_bytes` of audio."""

    def __init__(self, max_bytes: int = MAX_BYTES) -> None:
        self._audio: dict[str, bytes] = {}
        self._size = 0
        self._max_bytes = max_bytes
        self._lock = threading.Lock()

    def get(self, sentence: str) -> bytes | None:
        with self._lock:
            return self._audio.get(sentence)

    def render(self, sentences: Iterable[str], synthesize: Callable[[str], bytes]) -> int:
        """Render and keep each of `sentences` not kept yet, until the bound; how many are kept."""
        for sentence in sentences:
            if self.get(sentence) is not None:
                continue
            audio = synthesize(sentence)
            with self._lock:
                if self._size + len(audio) > self._max_bytes:
                    logger.warning(
                        "known lines: %d bytes kept, the rest render on demand", self._size
                    )
                    break
                self._audio[sentence] = audio
                self._size += len(audio)
        with self._lock:
            return len(self._audio)

    def render_in_background(
        self, sentences: list[str], synthesize: Callable[[str], bytes]
    ) -> threading.Thread:
        """`render` in a thread of its own: requests are served (and render what is not kept
        yet) meanwhile."""

        def run() -> None:
            started = time.monotonic()
            try:
                kept = self.render(sentences, synthesize)
            except Exception:  # a line that fails now fails again on demand, and says so there
                logger.exception("known lines: rendering failed; they render on demand")
                return
            took = time.monotonic() - started
            logger.info("known lines: %d sentences ready in %.1f s", kept, took)

        thread = threading.Thread(target=run, name="dialroom-known-lines", daemon=True)
        thread.start()
        return thread
