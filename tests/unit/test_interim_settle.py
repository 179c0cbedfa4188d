"""The Azure turn's commit waits for the interim only as long as the line has not yet been
quiet for `SETTLE_S`: counted from the caller's last loud audio, not from the flush."""

from __future__ import annotations

import numpy as np
from livekit import rtc

from worker.providers.interim_commit import SETTLE_S, commit_wait_s
from worker.providers.speech_end import LineLevel

RATE = 16000
FRAME_S = 0.01


def frame(amplitude: float, seconds: float = FRAME_S) -> rtc.AudioFrame:
    n = int(RATE * seconds)
    t = np.arange(n) / RATE
    samples = (amplitude * 32767 * np.sin(2 * np.pi * 220 * t)).astype(np.int16)
    return rtc.AudioFrame(samples.tobytes(), RATE, 1, n)


def line(loud_s: float, quiet_s: float, *, quiet_amplitude: float = 0.0) -> LineLevel:
    level = LineLevel()
    for _ in range(round(loud_s / FRAME_S)):
        level.push([frame(0.3)])
    for _ in range(round(quiet_s / FRAME_S)):
        level.push([frame(quiet_amplitude)])
    return level


def test_a_flush_long_after_the_last_word_commits_at_once() -> None:
    assert commit_wait_s(line(1.5, 0.4), SETTLE_S) == 0.0


def test_a_flush_soon_after_the_last_word_waits_the_rest_of_the_settle() -> None:
    assert abs(commit_wait_s(line(1.5, 0.1), SETTLE_S) - (SETTLE_S - 0.1)) < 1e-6


def test_a_line_that_never_reads_quiet_waits_the_whole_settle() -> None:
    # background noise 10 dB under the voice is not silence: nothing to count from
    assert commit_wait_s(line(1.5, 0.4, quiet_amplitude=0.1), SETTLE_S) == SETTLE_S


def test_a_flush_with_no_audio_waits_the_whole_settle() -> None:
    assert commit_wait_s(LineLevel(), SETTLE_S) == SETTLE_S
