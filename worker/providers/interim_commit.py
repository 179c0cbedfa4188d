"""End a caller's turn on Dialroom's own decision, not on a streaming STT's final transcript.

Azure's final result for a phrase arrives only after its own segmentation silence (about a
second after the caller stops, measured in public benchmarks), while its interim results follow
the speech within ~100 ms. livekit-agents commits a turn only once a final transcript is in:
on VAD end of speech (or the turn detector's verdict) it *flushes* an STT whose capabilities
say `manual_flush`, and waits for the final that the flush produces.

`InterimCommitSTT` wraps such an STT and says `manual_flush`: when the session flushes, the
latest interim text becomes the final transcript once the line has been quiet for `SETTLE_S`
(so the interim can catch up with the last word), and the turn ends on the VAD and the
endpointing delay. The
provider's own final for that text, when it comes, is dropped (only its words beyond the
committed ones are kept, if the caller spoke again within the same provider segment; see
`interim_words`). The cost: the reply is built on the interim wording (Azure's interims carry
no punctuation or casing); the words are the same.

The reply need not wait for the turn's end either. Once the line has been quiet `PREFLIGHT_S`,
the interim text so far goes to the session as a *preflight* transcript, and the session's
preemptive generation (`turn.preemptive_generation`) starts the LLM on it while the endpointing
delay still runs. At the turn's end the final carries the same words (Azure's own final, when
it comes first, in the preflight's wording) and the reply already under way is the one spoken;
an interim with other words (the last word caught up, or the caller went on) is preflighted
again once the line is quiet, and livekit-agents drops the stale reply (at most 3 tries a turn,
its `max_retries`). The cost: an LLM request per preflight whose words change.
"""

from __future__ import annotations

import asyncio

from livekit import rtc
from livekit.agents import DEFAULT_API_CONNECT_OPTIONS, APIConnectOptions, stt, utils
from livekit.agents.types import NOT_GIVEN, NotGivenOr

from worker.providers.interim_words import InterimWords, in_preflight_wording
from worker.providers.speech_end import LineLevel
from worker.providers.wrapped_stt import WrappedSTT

# Azure's interim trails the audio by ~0.1-0.2 s: the commit waits until the line has been
# quiet (by energy, `speech_end.LineLevel`) this long, so the last word is in (a word written
# after the turn ended is dropped, never a turn of its own). Counted from the last loud audio,
# not from the flush: the flush comes with the VAD's end of speech, 0.35-0.4 s into the
# silence, when the interim has long caught up (bench/README.md, `voice_hops`). A line that
# never reads quiet (noise near speech level) waits the whole settle after the flush.
SETTLE_S = 0.30
# Quiet this long, the caller has probably finished: the LLM may start (preflight). A comma's
# pause is ~0.13 s (the caller fixtures); a longer pause costs one LLM request thrown away.
PREFLIGHT_S = 0.15


def commit_wait_s(level: LineLevel, settle_s: float) -> float:
    """How long a flush still waits for the interim: what is left of `settle_s` after the
    line's last loud audio (the whole of it if the line never read quiet)."""
    return max(0.0, settle_s - level.quiet_s())


class InterimCommitSTT(WrappedSTT):
    """A streaming STT whose turn ends on the session's flush, with its latest interim text."""

    def __init__(self, inner: stt.STT, *, settle_s: float = SETTLE_S) -> None:
        caps = inner.capabilities
        capabilities = stt.STTCapabilities(
            streaming=True,
            interim_results=True,
            diarization=caps.diarization,
            aligned_transcript=caps.aligned_transcript,
            offline_recognize=caps.offline_recognize,
            manual_flush=True,
        )
        # usage reaches the session as RECOGNITION_USAGE events through this wrapper's stream
        super().__init__(inner, capabilities=capabilities)
        self.settle_s = settle_s

    def stream(
        self,
        *,
        language: NotGivenOr[str] = NOT_GIVEN,
        conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS,
    ) -> InterimCommitStream:
        return InterimCommitStream(stt=self, language=language, conn_options=conn_options)

    async def aclose(self) -> None:
        await self._inner.aclose()


class InterimCommitStream(stt.RecognizeStream):
    """Passes audio to the wrapped STT's stream; a flush turns the latest interim into a final.

    Retries are this stream's (the session's `stt_conn_options`): the wrapped stream gets none
    of its own, so a failure is counted and reported once, on this STT.
    """

    def __init__(
        self,
        *,
        stt: InterimCommitSTT,
        language: NotGivenOr[str],
        conn_options: APIConnectOptions,
    ) -> None:
        super().__init__(stt=stt, conn_options=conn_options)
        self._wrapper = stt
        self._language = language
        self._level = LineLevel()  # the loudness of the audio since the last flush
        self._preflighting: asyncio.Task[None] | None = None
        self._preflighted = ""  # the words of the last preflight since the last flush

    async def _run(self) -> None:
        once = APIConnectOptions(max_retry=0, timeout=self._conn_options.timeout)
        inner = self._wrapper.inner.stream(language=self._language, conn_options=once)
        # the session set this stream's offset; the provider's timestamps are relative to it
        inner.start_time_offset = self.start_time_offset
        words = InterimWords()
        feeding = asyncio.create_task(self._feed(inner, words))
        try:
            async for event in inner:
                for passed in words.passed(event):
                    self._event_ch.send_nowait(in_preflight_wording(passed, self._preflighted))
                    if passed.type == stt.SpeechEventType.FINAL_TRANSCRIPT:
                        self._preflighted = ""  # the provider's final, before any flush
                self._preflight_when_quiet(words)
            if feeding.done():
                feeding.result()  # a failure to feed the provider is this stream's failure
        finally:
            tasks = [feeding, self._preflighting]
            await utils.aio.cancel_and_wait(*[task for task in tasks if task is not None])
            await inner.aclose()

    async def _feed(self, inner: stt.RecognizeStream, words: InterimWords) -> None:
        heard_s = inner.start_time_offset  # stream time of the audio passed on so far
        level = self._level
        settling: asyncio.Task[None] | None = None
        try:
            async for item in self._input_ch:
                if isinstance(item, rtc.AudioFrame):
                    inner.push_frame(item)
                    level.add([item])
                    heard_s += item.duration
                    continue
                if settling is not None:
                    settling.cancel()
                if self._preflighting is not None:
                    self._preflighting.cancel()  # the commit is due: it sends these words
                wait_s = commit_wait_s(level, self._wrapper.settle_s)
                level.start()
                settling = asyncio.create_task(self._commit(words, heard_s, wait_s))
            inner.end_input()
        finally:
            if settling is not None:
                await utils.aio.cancel_and_wait(settling)

    async def _commit(self, words: InterimWords, heard_s: float, wait_s: float) -> None:
        """The turn's final, from the interim as it stands once the provider caught up."""
        await asyncio.sleep(wait_s)
        if (final := words.flushed(audio_at=heard_s)) is not None:
            self._event_ch.send_nowait(final)
        self._preflighted = ""

    def _preflight_when_quiet(self, words: InterimWords) -> None:
        """Preflight the interim's words once the line has been quiet PREFLIGHT_S, unless
        they are the last preflight's."""
        preflight = words.preflight()
        text = preflight.alternatives[0].text if preflight is not None else ""
        if not text or text == self._preflighted:
            return
        if self._preflighting is not None:
            self._preflighting.cancel()
        self._preflighting = asyncio.create_task(self._preflight(text, words))

    async def _preflight(self, text: str, words: InterimWords) -> None:
        """Sends `text` as a preflight once the line has been quiet PREFLIGHT_S; gives up once
        a flush has committed it or newer words have replaced it."""
        while (preflight := words.preflight()) and preflight.alternatives[0].text == text:
            quiet_s = self._level.quiet_s()  # `_feed` adds the line's audio as it comes
            if quiet_s >= PREFLIGHT_S:
                self._preflighted = text
                self._event_ch.send_nowait(preflight)
                return
            await asyncio.sleep(PREFLIGHT_S - quiet_s)
