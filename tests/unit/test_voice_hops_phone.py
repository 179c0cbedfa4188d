"""`bench.rtp_tap` and `bench.phone_part`: the bench phone's own part of "at the phone" is read
from its RTP packets (G.711 decoded, same loudness test as the recordings) and subtracted
from the platform's part only on its own, labelled line."""

from __future__ import annotations

import socket
import struct
from pathlib import Path

import numpy as np
import pytest

from bench.phone_part import platform_parts
from bench.rtp_tap import DECODE, Packet, network_hops, parse_packet
from callcheck.phone_result import Play

PHONE = "127.0.0.1:4000"
BRIDGE = "127.0.0.1:15000"


def datagram(payload: bytes, *, pt: int = 0, sport: int = 15000, dport: int = 4000) -> bytes:
    rtp = struct.pack("!BBHII", 0x80, pt, 7, 160, 1) + payload
    udp = struct.pack("!HHHH", sport, dport, 8 + len(rtp), 0)
    ip = struct.pack("!BBHHHBBH", 0x45, 0, 20 + len(udp) + len(rtp), 0, 0, 64, 17, 0)
    return ip + socket.inet_aton("127.0.0.1") * 2 + udp + rtp


def test_g711_tables_decode_the_standard_values() -> None:
    # mu-law: 0xFF and 0x7F are zero, 0x00 / 0x80 the extremes; A-law: 0xD5 / 0x55 smallest
    assert DECODE[0][[0xFF, 0x7F, 0x00, 0x80]].tolist() == [0, 0, -32124, 32124]
    assert DECODE[8][[0xD5, 0x55, 0x2A, 0xAA]].tolist() == [8, -8, -32256, 32256]


def test_a_loud_packet_is_voiced_and_a_silent_one_is_not() -> None:
    loud_pcm = (np.sin(np.arange(160) / 3) * 8000).astype(np.int16)
    loud = bytes(int(np.argmin(np.abs(DECODE[0].astype(int) - s))) for s in loud_pcm)
    voiced = parse_packet(datagram(loud), at=5.0)
    silent = parse_packet(datagram(b"\xff" * 160), at=6.0)
    assert voiced is not None and silent is not None
    assert (voiced.src, voiced.dst, voiced.seq, voiced.at) == (BRIDGE, PHONE, 7, 5.0)
    assert voiced.rms == pytest.approx(8000 / 32768 / np.sqrt(2), rel=0.05)
    assert voiced.voiced and not silent.voiced


def test_anything_but_g711_rtp_is_left_out() -> None:
    assert parse_packet(datagram(b"\xff" * 160, pt=111), at=1.0) is None  # Opus
    assert parse_packet(b"\x60" + bytes(199), at=1.0) is None  # IPv6
    not_rtp = bytearray(datagram(b"\xff" * 160))
    not_rtp[28] = 0x00  # RTP version 0
    assert parse_packet(bytes(not_rtp), at=1.0) is None


def packet(at: float, *, to_phone: bool, loud: bool) -> Packet:
    src, dst = (BRIDGE, PHONE) if to_phone else (PHONE, BRIDGE)
    return Packet(at=at, src=src, dst=dst, seq=0, rms=0.2 if loud else 0.0)


def test_network_hops_take_the_lines_last_packet_out_and_the_replys_first_in() -> None:
    packets = [
        packet(10.5, to_phone=False, loud=True),  # the line
        packet(11.99, to_phone=False, loud=True),  # its last voiced packet
        packet(12.01, to_phone=False, loud=False),
        packet(11.0, to_phone=True, loud=True),  # the agent before the line ended: not the reply
        packet(12.5, to_phone=True, loud=False),
        packet(13.3, to_phone=True, loud=True),  # the reply's first voiced packet
        packet(13.32, to_phone=True, loud=True),
        Packet(at=13.2, src=BRIDGE, dst="127.0.0.1:4002", seq=0, rms=0.2),  # another call's
    ]
    play = Play(file=Path("line.wav"), duration_s=2.2, started_at=10.0)
    hops = network_hops(packets, PHONE, play, stopped_at=12.0)
    assert hops == pytest.approx({"caller_sent": -0.01, "phone_network": 1.3})


def test_platform_parts_leave_the_phone_out_only_on_the_network_line() -> None:
    hops = {"caller_sent": 0.01, "phone_network": 1.40, "phone_audio": 1.47}
    parts = platform_parts(hops, own=1.0)
    assert parts == pytest.approx({"played": 0.47, "network": 0.39, "phone_receive": 0.07})
    assert platform_parts({"phone_audio": 1.5}, own=1.0) == pytest.approx({"played": 0.5})
