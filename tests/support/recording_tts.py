"""`RecordingTTS`: a real `tts.TTS` (non-streaming, like piper) that keeps every text it is
asked to speak and answers each with a short tone, so a test knows exactly what was said."""

from __future__ import annotations

from livekit.agents import APIConnectOptions, tts, utils
from livekit.agents.types import DEFAULT_API_CONNECT_OPTIONS

SAMPLE_RATE = 16000


class RecordingTTS(tts.TTS):
    def __init__(self) -> None:
        super().__init__(
            capabilities=tts.TTSCapabilities(streaming=False),
            sample_rate=SAMPLE_RATE,
            num_channels=1,
        )
        self.texts: list[str] = []

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
        output_emitter.push(b"\x10\x00" * (SAMPLE_RATE // 10))  # 100 ms per text
        output_emitter.flush()
