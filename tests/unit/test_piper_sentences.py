"""Local Piper renders a reply sentence by sentence, so the first sentence plays while the next
is rendered (`worker/providers/local_tts.py`), and the audio is what one request would give."""

from __future__ import annotations

import numpy as np
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


def test_a_sentence_starts_with_its_first_sound_and_keeps_its_length() -> None:
    """Piper opens "Great, ..." with ~55 ms of digital silence; the agent's render moves it to
    the sentence's end, so the reply is heard that much sooner and lasts as long."""
    sentence = "Great, I have you down for tuesday."
    rate = local_tts.voice_sample_rate()
    raw = np.frombuffer(synthesize_pcm(sentence, lead_silence=True), dtype=np.int16)
    said = np.frombuffer(synthesize_pcm(sentence), dtype=np.int16)

    def lead_s(samples: np.ndarray) -> float:
        loud = np.flatnonzero(np.abs(samples.astype(np.int32)) > local_tts.LEAD_FLOOR)
        return int(loud[0]) / rate

    assert lead_s(raw) >= 0.04
    assert lead_s(said) <= local_tts.LEAD_KEPT_S + 1 / rate
    assert len(said) == len(raw)
    moved = round((lead_s(raw) - lead_s(said)) * rate)
    assert np.array_equal(said[: len(said) - moved], raw[moved:])
    assert not said[len(said) - moved :].any()


def test_a_silent_or_already_prompt_sentence_is_left_as_it_is() -> None:
    rate = 22050
    silent = bytes(2 * rate)
    prompt = (np.r_[np.full(10, 1000), np.zeros(100)]).astype(np.int16).tobytes()
    assert local_tts.speech_first(silent, rate) == silent
    assert local_tts.speech_first(prompt, rate) == prompt
    late = (np.r_[np.zeros(rate // 10), np.full(10, -1000)]).astype(np.int16)
    moved = np.frombuffer(local_tts.speech_first(late.tobytes(), rate), dtype=np.int16)
    assert len(moved) == len(late) and int(np.flatnonzero(moved)[0]) == round(rate * 0.005)
