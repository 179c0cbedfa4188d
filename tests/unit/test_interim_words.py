"""What a streaming STT's session sees once a flush may end the turn on an interim result:
the interim's words at the flush, and nothing twice when the provider's final comes later;
before the flush, the same words as a preflight."""

from __future__ import annotations

from livekit.agents import stt

from worker.providers.interim_words import InterimWords, in_preflight_wording

INTERIM = stt.SpeechEventType.INTERIM_TRANSCRIPT
FINAL = stt.SpeechEventType.FINAL_TRANSCRIPT
PREFLIGHT = stt.SpeechEventType.PREFLIGHT_TRANSCRIPT


def event(kind: stt.SpeechEventType, text: str, *, ends_at: float = 2.5) -> stt.SpeechEvent:
    data = stt.SpeechData(language="en-US", text=text, start_time=1.0, end_time=ends_at)
    return stt.SpeechEvent(type=kind, alternatives=[data])


def seen(events: list[stt.SpeechEvent]) -> list[tuple[str, str]]:
    return [(e.type.value, e.alternatives[0].text) for e in events]


def test_a_flush_makes_the_latest_interim_the_final_and_drops_the_late_one() -> None:
    words = InterimWords()
    assert seen(words.passed(event(INTERIM, "i would"))) == [("interim_transcript", "i would")]
    words.passed(event(INTERIM, "i would like tuesday"))
    final = words.flushed(audio_at=3.0)
    assert final is not None and final.type == FINAL
    assert final.alternatives[0].text == "i would like tuesday"
    assert final.alternatives[0].end_time == 2.5  # timed like the interim it came from
    assert words.passed(event(FINAL, "I would like Tuesday.")) == []


def test_without_a_flush_the_providers_final_passes_as_is() -> None:
    words = InterimWords()
    words.passed(event(INTERIM, "hello there"))
    assert seen(words.passed(event(FINAL, "Hello there."))) == [
        ("final_transcript", "Hello there.")
    ]


def test_speech_after_the_flush_in_the_same_segment_keeps_only_its_new_words() -> None:
    words = InterimWords()
    words.passed(event(INTERIM, "i would like"))
    assert words.flushed(audio_at=3.0) is not None
    assert seen(words.passed(event(INTERIM, "i would like tuesday", ends_at=3.6))) == [
        ("interim_transcript", "tuesday")
    ]
    assert seen(words.passed(event(FINAL, "I would like Tuesday.", ends_at=3.6))) == [
        ("final_transcript", "Tuesday.")
    ]
    # the provider closed that segment: the next one starts from its first word
    assert seen(words.passed(event(INTERIM, "thanks"))) == [("interim_transcript", "thanks")]


def test_words_of_the_flushed_audio_written_late_do_not_make_a_turn_of_their_own() -> None:
    words = InterimWords()
    words.passed(event(INTERIM, "come in on tuesday", ends_at=2.4))
    assert words.flushed(audio_at=2.8) is not None
    # the provider only now writes the last word, spoken before the flush
    assert words.passed(event(INTERIM, "come in on tuesday please", ends_at=2.5)) == []
    assert words.passed(event(FINAL, "Come in on Tuesday, please.", ends_at=2.5)) == []


def test_a_flush_with_nothing_new_sends_nothing() -> None:
    words = InterimWords()
    assert words.flushed() is None  # no interim yet: the session waits for the final
    words.passed(event(INTERIM, "yes"))
    assert words.flushed() is not None
    assert words.flushed() is None


def test_a_preflight_is_what_a_flush_would_commit_and_commits_nothing() -> None:
    words = InterimWords()
    assert words.preflight() is None
    words.passed(event(INTERIM, "i would like tuesday"))
    preflight = words.preflight()
    assert preflight is not None and preflight.type == PREFLIGHT
    assert preflight.alternatives[0].text == "i would like tuesday"
    final = words.flushed(audio_at=3.0)
    assert final is not None and final.alternatives[0].text == "i would like tuesday"
    assert words.preflight() is None, "committed: nothing left to preflight"


def test_only_new_speech_after_a_flush_is_preflighted() -> None:
    words = InterimWords()
    words.passed(event(INTERIM, "come in on tuesday", ends_at=2.4))
    assert words.flushed(audio_at=2.8) is not None
    words.passed(event(INTERIM, "come in on tuesday please", ends_at=2.5))
    assert words.preflight() is None, "a late word of the flushed audio: the turn is over"
    words.passed(event(INTERIM, "come in on tuesday please at noon", ends_at=3.6))
    preflight = words.preflight()
    assert preflight is not None and preflight.alternatives[0].text == "please at noon"


def test_the_providers_final_for_the_preflighted_words_keeps_the_preflights_wording() -> None:
    final = event(FINAL, "I would like Tuesday, please.")
    same = in_preflight_wording(final, "i would like tuesday please")
    assert seen([same]) == [("final_transcript", "i would like tuesday please")]
    other = in_preflight_wording(final, "i would like")
    assert other is final, "other words: the provider's final as it is"
    assert in_preflight_wording(final, "") is final, "no preflight sent"
    interim = event(INTERIM, "i would like tuesday")
    assert in_preflight_wording(interim, "i would like tuesday") is interim
