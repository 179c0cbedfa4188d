"""`bench.media_floor`: each beep is paired with its echo by packet and frame onsets."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np

from bench.media_floor import BEEP_S, GAP_S, RATE, beeps, beeps_wav, onsets
from bench.rtp_tap import Packet
from callcheck.voice import voiced

PHONE = "127.0.0.1:4000"
BRIDGE = "127.0.0.1:15000"


def packets(src: str, dst: str, starts: list[float], *, loud: bool = True) -> list[Packet]:
    """A beep's 20 ms packets from each of `starts`, BEEP_S long."""
    rms = 0.2 if loud else 0.0
    return [
        Packet(at=start + n * 0.02, src=src, dst=dst, seq=n, rms=rms)
        for start in starts
        for n in range(int(BEEP_S / 0.02))
    ]


def test_the_wav_holds_one_beep_then_silence_per_count(tmp_path: Path) -> None:
    length = beeps_wav(tmp_path / "b.wav", 3)
    assert length == 3 * (BEEP_S + GAP_S)
    with wave.open(str(tmp_path / "b.wav")) as wav:
        samples = np.frombuffer(wav.readframes(wav.getnframes()), dtype=np.int16)
    loud = voiced(samples, rate=RATE)
    starts = [i for i in range(1, len(loud)) if loud[i] and not loud[i - 1]]
    assert loud[0] and len(starts) == 2  # the first beep starts the file


def test_onsets_start_a_beep_only_after_a_gap() -> None:
    assert onsets([1.0, 1.02, 1.04, 2.0, 2.02, 1.3]) == [1.0, 2.0]


def test_each_beep_is_paired_with_the_echo_and_the_packet_that_came_back() -> None:
    sent = [10.0, 11.5, 13.0]
    traffic = packets(PHONE, BRIDGE, sent)
    traffic += packets(BRIDGE, PHONE, [t + 0.26 for t in sent[:2]])  # the third never came back
    traffic += packets(BRIDGE, PHONE, [12.0], loud=False)  # silence is no echo
    at_echo = [t + 0.12 + n * 0.01 for t in sent for n in range(25)]
    found = beeps(traffic, PHONE, at_echo)
    assert [b.sent for b in found] == sent
    assert [round(b.at_echo - b.sent, 3) for b in found if b.at_echo] == [0.12] * 3
    assert [round(b.back - b.sent, 3) for b in found if b.back] == [0.26, 0.26]
    assert found[2].back is None
