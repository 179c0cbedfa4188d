"""Providers that note when they are asked: a TTS that counts its requests, an LLM that
streams its reply sentence by sentence with a pause between them. Both subclass livekit's real
interfaces (`tts.TTS`, `llm.LLM`), so an AgentSession drives them as it drives a cloud one.

`CountingTTS` is non-streaming, like Azure's and Piper's: the session wraps it in its sentence
`StreamAdapter`. Each request is kept as `(time.monotonic(), text)`; the audio is a tone, 40 ms
per character.
"""

from __future__ import annotations

import asyncio
import math
import time

import numpy as np
from livekit.agents import (
    DEFAULT_API_CONNECT_OPTIONS,
    APIConnectOptions,
    APIError,
    llm,
    tts,
    utils,
)


class CountingTTS(tts.TTS):
    def __init__(
        self, *, voice: str = "tone", sample_rate: int = 24000, fail: bool = False
    ) -> None:
        super().__init__(
            capabilities=tts.TTSCapabilities(streaming=False),
            sample_rate=sample_rate,
            num_channels=1,
        )
        self.voice, self.fail = voice, fail
        self.requests: list[tuple[float, str]] = []

    @property
    def model(self) -> str:
        return self.voice

    @property
    def provider(self) -> str:
        return "counting"

    @property
    def texts(self) -> list[str]:
        return [text for _, text in self.requests]

    @property
    def said(self) -> str:
        """Everything it was asked to say, its requests (sentences) joined."""
        return " ".join(text.strip() for text in self.texts)

    @property
    def seconds(self) -> float:
        """The audio its requests gave."""
        return sum(len(tone(text, self.sample_rate)) / 2 for text in self.texts) / self.sample_rate

    def synthesize(
        self, text: str, *, conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS
    ) -> _Tone:
        return _Tone(tts=self, input_text=text, conn_options=conn_options)


def tone(text: str, rate: int) -> bytes:
    samples = np.arange(int(rate * 0.04 * max(1, len(text)))) / rate
    return (0.3 * np.sin(2 * math.pi * 440.0 * samples) * 32767).astype(np.int16).tobytes()


class _Tone(tts.ChunkedStream):
    async def _run(self, output_emitter: tts.AudioEmitter) -> None:
        counting = self._tts
        assert isinstance(counting, CountingTTS)
        counting.requests.append((time.monotonic(), self.input_text))
        if counting.fail:
            raise APIError("counting TTS told to fail", retryable=False)
        output_emitter.initialize(
            request_id=utils.shortuuid(),
            sample_rate=counting.sample_rate,
            num_channels=1,
            mime_type="audio/pcm",
        )
        output_emitter.push(tone(self.input_text, counting.sample_rate))
        output_emitter.flush()


class SentencesLLM(llm.LLM):
    """Streams `sentences` word by word, pausing `pause_s` inside each sentence but the first
    (after its first word); `finished_at` is when the last chunk went out (time.monotonic())."""

    def __init__(self, sentences: list[str], *, pause_s: float) -> None:
        super().__init__()
        self.sentences, self.pause_s = sentences, pause_s
        self.finished_at: float | None = None

    @property
    def model(self) -> str:
        return "sentences"

    @property
    def provider(self) -> str:
        return "test"

    def chat(  # type: ignore[override]
        self,
        *,
        chat_ctx: llm.ChatContext,
        tools: list[llm.Tool] | None = None,
        conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS,
        **_: object,
    ) -> llm.LLMStream:
        return _Sentences(self, chat_ctx=chat_ctx, tools=tools or [], conn_options=conn_options)


class _Sentences(llm.LLMStream):
    async def _run(self) -> None:
        source = self._llm
        assert isinstance(source, SentencesLLM)
        words = [sentence.split(" ") for sentence in source.sentences]
        for i, sentence in enumerate(words):
            for j, word in enumerate(sentence):
                # the pause falls after the next sentence's first word, as an LLM's tokens do:
                # a sentence is known to be over only once the next one begins
                if i and j == 1:
                    await asyncio.sleep(source.pause_s)
                delta = llm.ChoiceDelta(role="assistant", content=word + " ")
                self._event_ch.send_nowait(llm.ChatChunk(id="sentences", delta=delta))
                await asyncio.sleep(0.005)
        source.finished_at = time.monotonic()
