"""Local Whisper that starts transcribing when the caller pauses, not when the VAD ends speech.

livekit-agents wraps a non-streaming STT in its VAD `StreamAdapter`, which transcribes only at
the VAD's end of speech: after the VAD has heard `turn.vad_min_silence_s` (0.25 s) of silence.
Whisper then takes ~0.45 s on 2 CPUs, and its transcript, not the endpointing delay, ends the
turn (bench/README.md, "offline persona"). Here the same VAD stream drives the transcription,
but Whisper starts on the audio so far as soon as the line has been quiet: `quiet_after_s` by
energy (`speech_end.LineLevel`, ~0.1-0.16 s before silero's smoothed probability falls), or
`speculate_after_s` of the VAD's silence where the line's noise never reads quiet. If the
caller stays silent until the VAD ends speech, that transcript is the turn's: the audio it
lacks is only the rest of that silence. If the caller speaks again first (a loud window, or the
VAD hearing voice after silence), it is dropped and the turn is transcribed again later (a
pause mid-line costs one wasted run).
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field

from livekit import rtc
from livekit.agents import stt, utils, vad
from livekit.agents.stt.stream_adapter import DEFAULT_STREAM_ADAPTER_API_CONNECT_OPTIONS
from livekit.agents.types import (
    DEFAULT_API_CONNECT_OPTIONS,
    NOT_GIVEN,
    APIConnectOptions,
    NotGivenOr,
)

from worker.providers.speech_end import LineLevel
from worker.providers.wrapped_stt import SegmentingSTT

logger = logging.getLogger("dialroom.worker")

# Two VAD windows (32 ms each) of the VAD's silence: a word's own gaps rarely last longer, the
# VAD's end of speech (0.25 s) is still 0.19 s away.
SPECULATE_AFTER_S = 0.06
# Three 32 ms windows quiet by energy, ~0.1 s before the VAD's silence begins. Two windows also
# caught stop closures inside words ("like to": 64 ms), each a wasted Whisper run
# (bench/README.md, `voice_hops`, "eos").
QUIET_AFTER_S = 0.09


@dataclass
class Speculation:
    """One early transcription, valid only for the silence it started in."""

    task: asyncio.Task[stt.SpeechEvent]
    audio_s: float  # the audio it transcribes
    by_energy: bool  # started on a quiet line: a loud window drops it, not the VAD's tail
    started: float = field(default_factory=time.monotonic)


class SpeculativeWhisperSTT(SegmentingSTT):
    """A streaming face on a non-streaming STT (local Whisper), with its own VAD stream."""

    def __init__(
        self,
        *,
        whisper: stt.STT,
        voice_activity: vad.VAD,
        speculate_after_s: float = SPECULATE_AFTER_S,
        quiet_after_s: float = QUIET_AFTER_S,
    ) -> None:
        capabilities = stt.STTCapabilities(streaming=True, interim_results=False)
        super().__init__(whisper, capabilities=capabilities)
        self._vad = voice_activity
        self._speculate_after_s = speculate_after_s
        self._quiet_after_s = quiet_after_s
        # Off while livekit's answering-machine check listens (`worker.voicemail`): it judges a
        # short "Hello?" by timing only if no transcript has come by the VAD's end of speech,
        # and a transcript started early can win that race (it then asks an LLM instead).
        self.speculating = True
        self.speculations_used = 0  # what tests and benchmarks read: transcripts reused
        self.speculations_dropped = 0
        self.used_audio_s: list[float] = []  # the audio each reused transcript heard, seconds

    def stream(
        self,
        *,
        language: NotGivenOr[str] = NOT_GIVEN,
        conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS,
    ) -> SpeculativeStream:
        return SpeculativeStream(self, language=language, conn_options=conn_options)


class SpeculativeStream(stt.RecognizeStream):
    """`StreamAdapterWrapper`'s events (start of speech, end of speech, final transcript),
    with the transcription started at the caller's first pause."""

    def __init__(
        self,
        owner: SpeculativeWhisperSTT,
        *,
        language: NotGivenOr[str],
        conn_options: APIConnectOptions,
    ) -> None:
        super().__init__(stt=owner, conn_options=DEFAULT_STREAM_ADAPTER_API_CONNECT_OPTIONS)
        self._owner = owner
        self._language = language
        self._wrapped_conn_options = conn_options
        self._frames: list[rtc.AudioFrame] = []  # the VAD's speech buffer, rebuilt
        self._vad_silent = False  # the VAD's last window was silence
        self._revoiced = False  # the VAD heard voice again after a pause, with no loud window
        self._resumed = False  # a loud window ended this pause: the VAD's silence is its lag
        self._level = LineLevel()
        self._speculation: Speculation | None = None

    async def _run(self) -> None:
        vad_stream = self._owner._vad.stream()

        async def forward_input() -> None:
            async for item in self._input_ch:
                if isinstance(item, self._FlushSentinel):
                    vad_stream.flush()
                    self._drop_speculation()
                    continue
                vad_stream.push_frame(item)
            vad_stream.end_input()

        async def recognize() -> None:
            async for event in vad_stream:
                await self._on_vad_event(event)

        tasks = [asyncio.create_task(forward_input()), asyncio.create_task(recognize())]
        try:
            await asyncio.gather(*tasks)
        finally:
            await utils.aio.cancel_and_wait(*tasks)
            self._drop_speculation()
            await vad_stream.aclose()

    async def _on_vad_event(self, event: vad.VADEvent) -> None:
        if event.type == vad.VADEventType.START_OF_SPEECH:
            self._drop_speculation()
            self._frames = list(event.frames)  # prefix padding and the first voiced window
            self._level.start()
            self._vad_silent = self._revoiced = self._resumed = False
            self._event_ch.send_nowait(stt.SpeechEvent(stt.SpeechEventType.START_OF_SPEECH))
        elif event.type == vad.VADEventType.INFERENCE_DONE and event.speaking:
            self._frames.extend(event.frames)
            loud = self._level.push(event.frames)
            self._on_window(event.raw_accumulated_silence, loud=loud)
        elif event.type == vad.VADEventType.END_OF_SPEECH:
            await self._end_of_speech(event)

    def _on_window(self, silence_s: float, *, loud: bool) -> None:
        """`silence_s`: the silence the VAD had heard before this window (0: its previous
        window was voiced); `loud`: this window is loud against the line's own level."""
        vad_voiced_again = silence_s == 0.0 and self._vad_silent
        self._vad_silent = silence_s > 0.0
        if loud:
            self._revoiced = False
        elif vad_voiced_again:
            self._revoiced = True  # soft speech after a pause: only the VAD hears it
        speculation = self._speculation
        if silence_s == 0.0:
            self._resumed = False
        if speculation is not None and (
            (loud or vad_voiced_again) if speculation.by_energy else silence_s == 0.0
        ):
            self._owner.speculations_dropped += 1
            self._drop_speculation()
            self._resumed = loud
        owner = self._owner
        if self._speculation is not None or not owner.speculating:
            return
        by_energy = not self._revoiced and self._level.quiet_s() >= owner._quiet_after_s
        by_vad = not self._resumed and silence_s >= owner._speculate_after_s
        if by_energy or by_vad:
            frames = list(self._frames)
            audio_s = sum(f.duration for f in frames)
            task = asyncio.create_task(self._transcribe(frames))
            self._speculation = Speculation(task, audio_s, by_energy)

    async def _end_of_speech(self, event: vad.VADEvent) -> None:
        ended = time.monotonic()
        speech_end_time = time.time() - event.silence_duration - event.inference_duration
        self._event_ch.send_nowait(
            stt.SpeechEvent(stt.SpeechEventType.END_OF_SPEECH, speech_end_time=speech_end_time)
        )
        speculation, self._speculation = self._speculation, None
        if speculation is not None:  # the caller stayed silent since it started
            self._owner.speculations_used += 1
            self._owner.used_audio_s.append(speculation.audio_s)
            done = speculation.task.done()
            result = await speculation.task
            logger.info(
                "whisper started %.2f s before the VAD's end of speech (%s by then)",
                ended - speculation.started,
                "done" if done else "running",
            )
        else:
            result = await self._transcribe(event.frames)
        self._frames = []
        if not result.alternatives or not result.alternatives[0].text:
            return
        self._event_ch.send_nowait(
            stt.SpeechEvent(
                type=stt.SpeechEventType.FINAL_TRANSCRIPT,
                alternatives=[result.alternatives[0]],
                speech_end_time=result.speech_end_time or speech_end_time,
            )
        )

    async def _transcribe(self, frames: list[rtc.AudioFrame]) -> stt.SpeechEvent:
        return await self._owner.inner.recognize(
            buffer=utils.merge_frames(frames),
            language=self._language,
            conn_options=self._wrapped_conn_options,
        )

    def _drop_speculation(self) -> None:
        if self._speculation is not None:
            self._speculation.task.cancel()
            self._speculation = None
