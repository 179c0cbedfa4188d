"""`RecordingTTS`: a real `tts.TTS` (non-streaming, like piper) that keeps every text it is
asked to speak and answers each with a short tone (after `lead_s` of silence, as a real voice
starts), so a test knows exactly what was said."""

from __future__ import annotations

import numpy as np
from livekit.agents import APIConnectOptions, tts, utils
from livekit.agents.types import DEFAULT_API_CONNECT_OPTIONS

SAMPLE_RATE = 16000


class RecordingTTS(tts.TTS):
    def __init__(self, *, lead_s: float = 0.0) -> None:
        super().__init__(
            capabilities=tts.TTSCapabilities(streaming=False),
            sample_rate=SAMPLE_RATE,
            num_channels=1,
        )
        self.texts: list[str] = []
        self.lead_s = lead_s

    @property
    def spoken(self) -> str:
        return " ".join(t.strip() for t in self.texts)

    def synthesize(
        self, text: str, *, conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS
    ) -> tts.ChunkedStream:
        self.texts.append(text)
        return _Tone(tts=self, input_text=text, conn_options=conn_options)


class _Tone(tts.ChunkedStream):
    async def _run(self, output_emitter: tts.AudioEmitter) -> None:
        output_emitter.initialize(
            request_id=utils.shortuuid(),
            sample_rate=SAMPLE_RATE,
            num_channels=1,
            mime_type="audio/pcm",
        )
        assert isinstance(self._tts, RecordingTTS)
        output_emitter.push(b"\x00\x00" * round(SAMPLE_RATE * self._tts.lead_s))
        output_emitter.push(tone(0.1))  # per text
        output_emitter.flush()


def tone(seconds: float, *, hz: float = 440.0, dbfs: float = -20.0) -> bytes:
    t = np.arange(round(SAMPLE_RATE * seconds)) / SAMPLE_RATE
    wave = 32767 * 10 ** (dbfs / 20) * np.sqrt(2) * np.sin(2 * np.pi * hz * t)
    return wave.astype(np.int16).tobytes()
