"""A non-streaming cloud STT (OpenAI) cut into utterances by the session's own VAD stream.

livekit-agents' `StreamAdapter` gives such an STT a VAD stream of its own: a second silero
stream over the same call (`speech_turns`). Here the STT follows the session's stream instead
and transcribes each utterance that stream ends, with the events `StreamAdapter` sends (start
of speech, end of speech, the final transcript).

Which audio it sends: the VAD's own buffer of the utterance (prefix, speech and the silence that
ended it) when every frame the STT was given in that time is one the VAD was given too, as
`StreamAdapter`'s VAD would have cut it from the same audio. Where livekit-agents gave the STT
silent stand-ins instead (echo cancellation warming up over the greeting, uninterruptible
speech), the STT's own frames of that time are sent, stand-ins and all, as `StreamAdapter` would
have heard them; an utterance the STT heard none of is not transcribed.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from livekit import rtc
from livekit.agents import stt, utils, vad
from livekit.agents.stt.stream_adapter import DEFAULT_STREAM_ADAPTER_API_CONNECT_OPTIONS
from livekit.agents.types import (
    DEFAULT_API_CONNECT_OPTIONS,
    NOT_GIVEN,
    APIConnectOptions,
    NotGivenOr,
)

from worker.providers.speech_end import EndAtLastVoiceVAD
from worker.providers.wrapped_stt import SegmentingSTT

if TYPE_CHECKING:
    from livekit.agents.voice.events import ConversationItemAddedEvent

KEPT_S = 65.0  # the STT's own frames kept: longer than any utterance the VAD buffers (60 s)
EDGE_S = 0.3  # how far past an utterance's span its own frames are looked at and taken


class SharedVadSTT(SegmentingSTT):
    """A streaming face on a non-streaming STT, its utterances from the session's VAD."""

    def __init__(self, inner: stt.STT, *, voice_activity: EndAtLastVoiceVAD) -> None:
        capabilities = stt.STTCapabilities(
            streaming=True,
            interim_results=False,
            keyterms=inner.capabilities.keyterms,
            chat_context=inner.capabilities.chat_context,
        )
        super().__init__(inner, capabilities=capabilities)
        self.voice_activity = voice_activity

    # the session's keyterms and conversation reach the recogniser, as through StreamAdapter
    def _update_session_keyterms(self, keyterms: list[str]) -> None:
        self._inner._update_session_keyterms(keyterms)

    def _push_conversation_item(self, item: ConversationItemAddedEvent) -> None:
        self._inner._push_conversation_item(item)

    def stream(
        self,
        *,
        language: NotGivenOr[str] = NOT_GIVEN,
        conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS,
    ) -> SharedVadStream:
        return SharedVadStream(self, language=language, conn_options=conn_options)


@dataclass(frozen=True)
class Given:
    at: float  # time.monotonic() when the STT stream took it
    frame: rtc.AudioFrame


class SharedVadStream(stt.RecognizeStream):
    def __init__(
        self, owner: SharedVadSTT, *, language: NotGivenOr[str], conn_options: APIConnectOptions
    ) -> None:
        # `recognize` retries on its own, as in StreamAdapter: the stream does not retry it
        super().__init__(stt=owner, conn_options=DEFAULT_STREAM_ADAPTER_API_CONNECT_OPTIONS)
        self._owner = owner
        self._language = language
        self._inner_conn_options = conn_options
        self._given: deque[Given] = deque()
        # followed from here, not from `_run`: the frames pushed before the task starts are
        # the VAD's too, and must be known as such
        self._ends: utils.aio.Chan[vad.VADEvent] = utils.aio.Chan()
        self._stop_following = owner.voice_activity.turns.follow(self._on_turn)

    async def _metrics_monitor_task(self, event_aiter: object) -> None:
        async for _ in event_aiter:  # type: ignore[attr-defined]  # the inner STT reports
            pass

    async def _run(self) -> None:
        recognizing = asyncio.create_task(self._recognize())
        try:
            await self._take_input()  # until the session ends the STT's input
            self._stop_following()
            self._ends.close()
            await recognizing  # the utterances already ended are still transcribed
        finally:
            self._stop_following()
            self._ends.close()
            await utils.aio.cancel_and_wait(recognizing)

    async def aclose(self) -> None:
        self._stop_following()  # also when the stream closes before its task ran
        await super().aclose()

    def _on_turn(self, event: vad.VADEvent) -> None:
        with contextlib.suppress(utils.aio.ChanClosed):  # this stream closing: not the VAD's
            if event.type == vad.VADEventType.START_OF_SPEECH:
                self._event_ch.send_nowait(stt.SpeechEvent(stt.SpeechEventType.START_OF_SPEECH))
            else:
                self._ends.send_nowait(event)

    async def _take_input(self) -> None:
        async for item in self._input_ch:
            if isinstance(item, self._FlushSentinel):
                continue  # the session's VAD keeps its own segments
            now = time.monotonic()
            self._given.append(Given(now, item))
            while self._given and self._given[0].at < now - KEPT_S:
                self._given.popleft()

    async def _recognize(self) -> None:
        async for event in self._ends:
            audio = self.utterance_audio(event)
            if audio is None:
                continue  # the STT was given stand-ins only: it heard nothing of it
            speech_end_time = time.time() - event.silence_duration - event.inference_duration
            self._event_ch.send_nowait(
                stt.SpeechEvent(stt.SpeechEventType.END_OF_SPEECH, speech_end_time=speech_end_time)
            )
            heard = await self._owner.inner.recognize(
                buffer=audio, language=self._language, conn_options=self._inner_conn_options
            )
            if not heard.alternatives or not heard.alternatives[0].text:
                continue
            self._event_ch.send_nowait(
                stt.SpeechEvent(
                    stt.SpeechEventType.FINAL_TRANSCRIPT,
                    alternatives=[heard.alternatives[0]],
                    speech_end_time=heard.speech_end_time or speech_end_time,
                )
            )

    def utterance_audio(self, event: vad.VADEvent) -> rtc.AudioFrame | None:
        """The audio to transcribe for the END_OF_SPEECH `event` (see the module's text)."""
        spoken = utils.merge_frames(event.frames)
        since = time.monotonic() - spoken.duration - EDGE_S
        own = [g.frame for g in self._given if g.at >= since]
        turns = self._owner.voice_activity.turns
        stand_ins = [f for f in own if not turns.heard(f) and not _has_sound(f)]
        if not stand_ins:
            return spoken
        if len(stand_ins) == len(own):
            return None
        return utils.merge_frames(own)


def _has_sound(frame: rtc.AudioFrame) -> bool:
    """A stand-in is digital silence; a frame of the caller's yet unseen by the VAD is not."""
    return bool(np.frombuffer(frame.data, dtype=np.int16).any())
