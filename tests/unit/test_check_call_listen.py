"""The phone's turn-taking by ear (`callcheck.listen`): the next line waits for the agent to
speak and go quiet, a silent agent is not waited on forever, and the call ends after the last
reply. Fed with audio bytes as PJSUA's recorder writes them, no call needed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from callcheck.listen import RATE, WAV_HEADER, FarEnd, TurnTaker

pytestmark = pytest.mark.unit


def pcm(seconds: float, *, voiced: bool) -> bytes:
    t = np.arange(int(seconds * RATE))
    wave = 8000 * np.sin(2 * np.pi * 440 * t / RATE) if voiced else np.zeros_like(t)
    return wave.astype("<i2").tobytes()


def test_the_far_end_is_followed_as_its_recording_grows(tmp_path: Path) -> None:
    recording = tmp_path / "heard.wav"
    recording.write_bytes(b"\0" * WAV_HEADER + pcm(0.5, voiced=False))
    ear = FarEnd(recording)
    ear.poll()
    assert ear.heard_s == pytest.approx(0.5) and not ear.spoke_after(0.0)
    with recording.open("ab") as f:
        f.write(pcm(1.0, voiced=True) + pcm(0.3, voiced=False)[:-7])  # half a window at the end
    ear.poll()
    assert ear.spoke_after(1.4) and not ear.spoke_after(1.5)
    assert ear.quiet_s() == pytest.approx(0.28, abs=0.021)


def test_each_line_waits_for_the_agent_to_speak_and_go_quiet() -> None:
    ear = FarEnd(Path("not-read.wav"))  # fed by `add`, as `poll` would
    turns = TurnTaker(lines=[2.0, 1.0], quiet_s=1.0, reply_timeout_s=10.0, end_grace_s=3.0)
    ear.add(pcm(0.5, voiced=False))
    assert turns.next_line(ear, 0.5) is None  # the greeting has not started
    ear.add(pcm(2.0, voiced=True) + pcm(0.6, voiced=False))
    assert turns.next_line(ear, 3.1) is None  # quiet for only 0.6 s: maybe a pause
    ear.add(pcm(0.5, voiced=False))
    assert turns.next_line(ear, 3.6) == 0
    # our line plays 3.6 -> 5.6; silence meanwhile (the recording holds only the far end)
    ear.add(pcm(2.0, voiced=False))
    assert turns.next_line(ear, 5.6) is None  # no reply yet
    ear.add(pcm(1.0, voiced=True) + pcm(1.1, voiced=False))
    assert turns.next_line(ear, 7.7) == 1
    assert not turns.finished(ear, 7.7)


def test_a_silent_agent_is_not_waited_on_forever_and_the_call_ends_after_the_last_reply() -> None:
    ear = FarEnd(Path("not-read.wav"))  # fed by `add`, as `poll` would
    turns = TurnTaker(lines=[1.0], quiet_s=1.0, reply_timeout_s=4.0, end_grace_s=2.0)
    ear.add(pcm(3.9, voiced=False))
    assert turns.next_line(ear, 3.9) is None
    assert turns.next_line(ear, 4.0) == 0  # no greeting within the timeout: speak anyway
    ear.add(pcm(1.5, voiced=False) + pcm(1.0, voiced=True) + pcm(1.0, voiced=False))
    assert not turns.finished(ear, 7.5)  # the reply is over; the grace time starts now
    assert not turns.finished(ear, 9.0)
    assert turns.finished(ear, 9.5)
