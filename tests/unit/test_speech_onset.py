"""An utterance's audio from its first sound (`worker.speech_onset`): its leading silence is
dropped but for the 10 ms before the first sound, never more than MAX_TRIM_S of it, and nothing
after the first sound changes."""

from __future__ import annotations

from collections.abc import AsyncIterator

import numpy as np
from livekit import rtc

from worker.speech_onset import MAX_TRIM_S, from_first_sound

RATE = 16000


def pcm(silent_s: float, loud_s: float, *, floor: int = 0) -> np.ndarray:
    """`silent_s` at a constant `floor` (0: digital silence), then a -20 dBFS tone."""
    t = np.arange(round(RATE * loud_s)) / RATE
    loud = (4634 * np.sin(2 * np.pi * 440 * t)).astype(np.int16)
    return np.concatenate([np.full(round(RATE * silent_s), floor, dtype=np.int16), loud])


def frames(samples: np.ndarray, frame_s: float) -> list[rtc.AudioFrame]:
    step = round(RATE * frame_s)
    return [
        rtc.AudioFrame(chunk.tobytes(), RATE, 1, len(chunk))
        for chunk in (samples[i : i + step] for i in range(0, len(samples), step))
    ]


async def run(items: list[object]) -> list[object]:
    async def source() -> AsyncIterator[object]:
        for item in items:
            yield item

    return [item async for item in from_first_sound(source())]


def joined(items: list[object]) -> np.ndarray:
    audio = [np.frombuffer(f.data, dtype=np.int16) for f in items if isinstance(f, rtc.AudioFrame)]
    return np.concatenate(audio) if audio else np.zeros(0, dtype=np.int16)


async def test_the_leading_silence_goes_but_the_10_ms_before_the_first_sound() -> None:
    samples = pcm(0.06, 0.5)
    out = joined(await run(frames(samples, 0.02)))
    assert len(out) == len(samples) - round(RATE * 0.05)
    assert np.array_equal(out, samples[round(RATE * 0.05) :]), "the rest exactly as it came"


async def test_a_first_sound_inside_a_long_frame_is_cut_to_within_the_frame() -> None:
    samples = pcm(0.045, 0.3)  # the tone starts mid-window, 45 ms into one 345 ms frame
    out = joined(await run(frames(samples, 1.0)))
    # the first loud 10 ms window is 40-50 ms; 10 ms before it is kept
    assert np.array_equal(out, samples[round(RATE * 0.03) :])


async def test_the_kept_lead_in_comes_from_the_frame_before() -> None:
    samples = pcm(0.04, 0.2)  # first sound at exactly the start of the third 20 ms frame
    out = joined(await run(frames(samples, 0.02)))
    assert np.array_equal(out, samples[round(RATE * 0.03) :])


async def test_a_low_noise_floor_counts_as_silence() -> None:
    samples = pcm(0.05, 0.2, floor=40)  # -58 dBFS of hiss before the voice
    out = joined(await run(frames(samples, 0.01)))
    assert len(out) == len(samples) - round(RATE * 0.04)


async def test_an_utterance_that_starts_loud_is_untouched() -> None:
    items = frames(pcm(0.0, 0.2), 0.02)
    out = await run(items)
    assert all(a is b for a, b in zip(out, items, strict=True))


async def test_the_pauses_after_the_first_sound_are_kept() -> None:
    first, pause, second = pcm(0.03, 0.2), np.zeros(RATE // 2, np.int16), pcm(0.0, 0.2)
    samples = np.concatenate([first, pause, second])
    out = joined(await run(frames(samples, 0.02)))
    assert np.array_equal(out, samples[round(RATE * 0.02) :]), "only the start is trimmed"


async def test_no_more_than_max_trim_s_is_dropped() -> None:
    samples = pcm(1.0, 0.2)
    out = joined(await run(frames(samples, 0.02)))
    assert len(out) == len(samples) - round(RATE * MAX_TRIM_S)
    assert np.array_equal(out, samples[round(RATE * MAX_TRIM_S) :])


async def test_what_is_not_audio_passes_in_order() -> None:
    marker = object()
    items: list[object] = [*frames(pcm(0.02, 0.0), 0.02), marker, *frames(pcm(0.0, 0.1), 0.05)]
    out = await run(items)
    assert out[0] is marker and len(joined(out)) == round(RATE * 0.11)  # 10 ms lead-in


async def test_stereo_frames_keep_their_channels_whole() -> None:
    mono = pcm(0.05, 0.2)
    stereo = np.repeat(mono, 2)  # interleaved L R
    step = RATE // 50 * 2
    items = [
        rtc.AudioFrame(stereo[i : i + step].tobytes(), RATE, 2, len(stereo[i : i + step]) // 2)
        for i in range(0, len(stereo), step)
    ]
    out = await run(items)
    first = out[0]
    assert isinstance(first, rtc.AudioFrame) and first.num_channels == 2
    assert np.array_equal(joined(out), np.repeat(mono[round(RATE * 0.04) :], 2))
