"""The test phone itself: two PJSUA2 phones call each other on loopback."""

from __future__ import annotations

import socket
import wave
from pathlib import Path

import numpy as np
import pytest

from callcheck.phone import dial, start_answering, start_dialing
from callcheck.phone_cli import MAX_CALLS
from callcheck.voice import first_voice_offset, voiced_seconds

pytestmark = pytest.mark.integration

RATE = 8000


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def write_tone(path: Path, *, hz: float, seconds: float) -> Path:
    t = np.arange(int(RATE * seconds)) / RATE
    samples = (0.3 * 32767 * np.sin(2 * np.pi * hz * t)).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(samples.tobytes())
    return path


def dominant_hz(path: Path) -> float:
    with wave.open(str(path), "rb") as w:
        samples = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(float)
    spectrum = np.abs(np.fft.rfft(samples))
    return float(np.fft.rfftfreq(len(samples), 1 / RATE)[np.argmax(spectrum)])


def test_phones_hear_each_other_for_as_long_as_the_other_side_plays(tmp_path: Path) -> None:
    low = write_tone(tmp_path / "answerer.wav", hz=440, seconds=1.5)
    high = write_tone(tmp_path / "caller.wav", hz=1000, seconds=2.0)
    port = free_udp_port()

    with start_answering(
        port,
        result_dir=tmp_path,
        play=[(low, 0.5)],
        record=tmp_path / "answerer-heard.wav",
        max_calls=1,
        duration=30,
    ) as answerer:
        caller = dial(
            f"sip:1000@127.0.0.1:{port}",
            result_dir=tmp_path,
            play=[(high, 0.5)],
            record=tmp_path / "caller-heard.wav",
            hangup_after=3.5,
            timeout=30,
        )
        answered = answerer.result(timeout=10)

    for result, heard, hz, seconds in ((caller, answered, 440, 1.5), (answered, caller, 1000, 2.0)):
        call = result.call
        assert (call.status_code, call.connected) == (200, True)
        assert call.recording is not None
        assert voiced_seconds(call.recording) == pytest.approx(seconds, abs=0.3)
        assert dominant_hz(call.recording) == pytest.approx(hz, abs=20)
        assert first_voice_offset(call.recording) == pytest.approx(0.5, abs=0.3)
        assert heard.call.plays[0].duration_s == seconds
    assert (caller.call.remote_hangup, answered.call.remote_hangup) == (False, True)
    assert answered.invites[0].request_uri == f"sip:1000@127.0.0.1:{port}"
    assert "caller@127.0.0.1" in answered.invites[0].from_uri


def test_busy_answer_reaches_the_caller_and_is_dialled_once(tmp_path: Path) -> None:
    port = free_udp_port()

    with start_answering(port, result_dir=tmp_path, code=486, max_calls=1) as answerer:
        caller = dial(f"sip:1000@127.0.0.1:{port}", result_dir=tmp_path, timeout=15)
        answered = answerer.result(timeout=10)

    assert (caller.call.status_code, caller.call.connected) == (486, False)
    assert caller.call.confirmed_at is None
    assert len(answered.invites) == 1
    assert answered.call.status_code == 486


def test_one_phone_places_many_calls_at_once_each_recorded_apart(tmp_path: Path) -> None:
    """A bench's load from one process: as many calls as an endpoint holds, each heard in
    its own recording."""
    tone = write_tone(tmp_path / "answerer.wav", hz=440, seconds=1.0)
    port = free_udp_port()
    calls = MAX_CALLS

    with start_answering(
        port, result_dir=tmp_path, play=[(tone, 0.3)], max_calls=calls, duration=30
    ) as answerer:
        with start_dialing(
            f"sip:1000@127.0.0.1:{port}",
            result_dir=tmp_path,
            record=tmp_path / "heard.wav",
            hangup_after=2.5,
            timeout=30,
            calls=calls,
        ) as caller:
            placed = caller.result(timeout=40)
        answered = answerer.result(timeout=10)

    assert len(answered.invites) == calls
    assert [(c.status_code, c.connected) for c in placed.calls] == [(200, True)] * calls
    recordings = [c.recording for c in placed.calls]
    assert recordings == [tmp_path / "heard.wav"] + [
        tmp_path / f"heard-{n}.wav" for n in range(2, calls + 1)
    ]
    for recording in recordings:
        assert recording is not None
        assert voiced_seconds(recording) == pytest.approx(1.0, abs=0.3)
