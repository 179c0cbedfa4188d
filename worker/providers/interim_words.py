"""Which of a streaming STT's transcripts reach the session once a flush may commit an interim.

A provider such as Azure writes each phrase (its *segment*) as growing interim results, then
one final. `InterimWords` follows the open segment: on a flush, the words of its latest interim
not yet committed become a final transcript. Afterwards the provider's interims and its final
for that segment pass on without the words already committed, and only if the caller spoke
again after the flush (an interim reaching past the audio flushed): words of the flushed audio
that the provider writes only later belong to a turn already over, and are dropped. Words are
counted, not compared: the final rewrites casing and punctuation ("i would like tuesday" ->
"I would like Tuesday."), not how many words were heard.
"""

from __future__ import annotations

from dataclasses import replace

from livekit.agents import stt
from livekit.agents.tokenize.basic import split_words

_INTERIM = stt.SpeechEventType.INTERIM_TRANSCRIPT
_FINAL = stt.SpeechEventType.FINAL_TRANSCRIPT
_SAME_AUDIO_S = 0.05  # an interim ending this close to the flush point is the flushed audio


class InterimWords:
    def __init__(self) -> None:
        self._latest: stt.SpeechEvent | None = None  # the open segment's latest interim
        self._committed = 0  # its words already sent as a final
        self._flushed_at: float | None = None  # stream time of the audio flushed last
        self._resumed = False  # the caller spoke again after that flush

    def passed(self, event: stt.SpeechEvent) -> list[stt.SpeechEvent]:
        """The provider's `event` as the session should see it (nothing, when all is said)."""
        if not event.alternatives or event.type not in (_INTERIM, _FINAL):
            return [event]
        committed, resumed = self._committed, self._resumed or self._spoke_again(event)
        if event.type == _INTERIM:
            self._latest, self._resumed = event, resumed
        else:  # the provider closed the segment: the next interim opens a new one
            self._latest, self._committed, self._resumed = None, 0, False
        if not committed:
            return [event]
        rest = _after(event.alternatives[0].text, committed)
        return [with_text(event, rest)] if rest and resumed else []

    def _uncommitted(self) -> str:
        """The open segment's latest interim words not yet committed: what a flush now would
        commit ("": none)."""
        if self._latest is None:
            return ""
        return _after(self._latest.alternatives[0].text, self._committed)

    def preflight(self) -> stt.SpeechEvent | None:
        """The uncommitted words as a preflight transcript (the final a flush now would send,
        for the session's preemptive generation), committing nothing. None when there are
        none, or they are late words of audio already flushed (not the caller speaking again)."""
        rest = self._uncommitted()
        if self._latest is None or not rest or (self._committed and not self._resumed):
            return None
        return with_text(self._latest, rest, type=stt.SpeechEventType.PREFLIGHT_TRANSCRIPT)

    def flushed(self, *, audio_at: float | None = None) -> stt.SpeechEvent | None:
        """The session asks for the turn's transcript now, its audio heard up to `audio_at`
        (stream time, as the provider's timestamps): the uncommitted interim words."""
        rest = self._uncommitted()
        if self._latest is None or not rest:
            return None
        self._committed = len(self._latest.alternatives[0].text.split())
        self._flushed_at, self._resumed = audio_at, False
        return with_text(self._latest, rest, type=_FINAL)

    def _spoke_again(self, event: stt.SpeechEvent) -> bool:
        if not self._committed:
            return False
        if self._flushed_at is None:  # no clock: any new word is new speech
            return True
        return event.alternatives[0].end_time > self._flushed_at + _SAME_AUDIO_S


def with_text(
    event: stt.SpeechEvent, text: str, *, type: stt.SpeechEventType | None = None
) -> stt.SpeechEvent:
    """`event` (its first alternative's timing and language) carrying `text` instead."""
    data = replace(event.alternatives[0], text=text)
    return replace(event, type=type or event.type, alternatives=[data])


def in_preflight_wording(event: stt.SpeechEvent, preflighted: str) -> stt.SpeechEvent:
    """The provider's own final in the wording of the preflight that sent the same words.

    The session keeps the reply it started on a preflight only if the final's text is the
    preflight's, string for string (livekit-agents 1.8.9, `audio_recognition`: a changed
    transcript restarts it); Azure's final rewrites casing and punctuation ("i would like
    tuesday" -> "I would like Tuesday."), which would throw that head start away."""
    if event.type != _FINAL or not preflighted or not event.alternatives:
        return event
    if _words(event.alternatives[0].text) != _words(preflighted):
        return event  # other words: a new transcript, and a new reply
    return with_text(event, preflighted)


def _words(text: str) -> list[str]:
    """Words as livekit-agents compares a preflight with the turn (`_transcripts_equivalent`)."""
    return [
        w.casefold() for w, _, _ in split_words(text, ignore_punctuation=True, split_character=True)
    ]


def _after(text: str, count: int) -> str:
    return " ".join(text.split()[count:])
