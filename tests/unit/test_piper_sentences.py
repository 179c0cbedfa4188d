"""Local Piper renders a reply sentence by sentence, so the first sentence plays while the next
is rendered (`worker/providers/local_tts.py`), and the audio is what one request would give."""

from __future__ import annotations

import pytest
from livekit import rtc

from worker.providers import local_tts
from worker.providers.local_tts import PiperTTS, split_sentences, synthesize_pcm

REPLY = "Tuesday, noted. Which day after that?"


def test_sentences_are_cut_at_their_end_marks() -> None:
    assert split_sentences(REPLY) == ["Tuesday, noted.", "Which day after that?"]
    assert split_sentences("Great, goodbye!") == ["Great, goodbye!"]
    # a one-word piece is an abbreviation or a greeting word: said with what follows
    assert split_sentences("Mr. Smith will call. Thanks!") == ["Mr. Smith will call.", "Thanks!"]
    assert split_sentences("") == [""]


async def test_each_sentence_is_its_own_request_and_the_audio_is_unchanged(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    asked: list[str] = []

    def spy(text: str) -> bytes:
        asked.append(text)
        return synthesize_pcm(text)

    monkeypatch.setattr(local_tts, "synthesize_pcm", spy)
    frames = [event.frame async for event in PiperTTS().synthesize(REPLY)]

    assert asked == ["Tuesday, noted.", "Which day after that?"]
    # piper renders sentences on their own either way: same samples as one request (the
    # emitter pads its last frame with silence)
    heard, whole = rtc.combine_audio_frames(frames).data.tobytes(), synthesize_pcm(REPLY)
    assert heard[: len(whole)] == whole
    assert not any(heard[len(whole) :])
