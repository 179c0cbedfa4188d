"""The part every Dialroom STT wrapper shares: it names and recognizes as the STT it wraps.

A wrapper changes how a turn's transcript is streamed (`interim_commit`, `whisper_stream`),
not who transcribes: metrics and the call record must still say which provider and model
heard the caller, and a one-shot `recognize` goes straight to that provider.
"""

from __future__ import annotations

from livekit.agents import APIConnectOptions, stt, utils
from livekit.agents.types import NOT_GIVEN, NotGivenOr


class WrappedSTT(stt.STT):
    """An STT standing in front of `inner`: same model, provider and one-shot recognition."""

    def __init__(self, inner: stt.STT, *, capabilities: stt.STTCapabilities) -> None:
        super().__init__(capabilities=capabilities)
        self._inner = inner

    @property
    def inner(self) -> stt.STT:
        return self._inner

    @property
    def model(self) -> str:
        return self._inner.model

    @property
    def provider(self) -> str:
        return self._inner.provider

    async def _recognize_impl(
        self,
        buffer: utils.AudioBuffer,
        *,
        language: NotGivenOr[str] = NOT_GIVEN,
        conn_options: APIConnectOptions,
    ) -> stt.SpeechEvent:
        return await self._inner.recognize(buffer, language=language, conn_options=conn_options)


class SegmentingSTT(WrappedSTT):
    """A wrapper that cuts the caller's audio into utterances and has `inner` transcribe each
    one-shot (`whisper_stream`, `shared_vad_stt`): `inner` reports each recognition's metrics,
    passed on as this STT's, as livekit's `StreamAdapter` does."""

    def __init__(self, inner: stt.STT, *, capabilities: stt.STTCapabilities) -> None:
        super().__init__(inner, capabilities=capabilities)
        self._inner.on("metrics_collected", self._on_metrics_collected)

    def _on_metrics_collected(self, *args: object, **kwargs: object) -> None:
        self.emit("metrics_collected", *args, **kwargs)

    async def aclose(self) -> None:
        self._inner.off("metrics_collected", self._on_metrics_collected)
