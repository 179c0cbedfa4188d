"""The bench phone's RTP as the network carries it: kernel-timestamped copies of the G.711
packets on loopback, read beside the phone, never through it.

"First audio at the phone" is read from the phone's recording, which is written after the
phone's own receive path (pjsua's jitter buffer and its 20 ms conference clock); the caller's
last voiced sample is placed where the phone's WAV player was connected, before its send clock.
Both are the instrument, not the platform. This tap times the packets themselves: the last
voiced packet the phone sent for a line and the first voiced packet that reached it after, so a
bench can report the platform's part from packet to packet beside what the phone played.

It needs CAP_NET_RAW (an AF_PACKET socket on `lo`); without it `RtpTap.start` says why and the
bench prints those hops as not measured. A classic BPF filter keeps only IPv4 UDP datagrams of
200 bytes (20 ms of G.711: 20 IP + 8 UDP + 12 RTP + 160), so the rest of loopback costs nothing.
"""

from __future__ import annotations

import ctypes
import socket
import struct
import threading
from dataclasses import dataclass

import numpy as np

from callcheck.phone_result import Play
from callcheck.voice import THRESHOLD

ETH_P_ALL = 0x0003
PACKET_HOST = 0  # on lo every packet shows twice: sent (PACKET_OUTGOING) and received; keep one
SO_ATTACH_FILTER = 26
SO_TIMESTAMPNS = 35
G711_IP_BYTES = 200
LINE_TAIL_S = 0.1  # a line's packets may leave this long after its WAV's length
# ldb [9]; jeq #17 (UDP); ldh [2]; jeq #200 (IP total length); ret all; ret 0
FILTER = (
    (0x30, 0, 0, 9),
    (0x15, 0, 3, 17),
    (0x28, 0, 0, 2),
    (0x15, 0, 1, G711_IP_BYTES),
    (0x06, 0, 0, 0xFFFF),
    (0x06, 0, 0, 0),
)


@dataclass(frozen=True, kw_only=True)
class Packet:
    at: float  # time.time() of the kernel's receipt on lo
    src: str  # ip:port
    dst: str
    seq: int
    rms: float  # of full scale, the decoded payload's

    @property
    def voiced(self) -> bool:
        """The same loudness test the recordings are read with (callcheck.voice)."""
        return self.rms > THRESHOLD


def _ulaw_table() -> np.ndarray:
    u = ~np.arange(256, dtype=np.int32) & 0xFF
    exponent, mantissa = (u >> 4) & 0x07, u & 0x0F
    magnitude = (((mantissa << 3) + 0x84) << exponent) - 0x84
    return np.where(u & 0x80, -magnitude, magnitude).astype(np.int16)


def _alaw_table() -> np.ndarray:
    a = np.arange(256, dtype=np.int32) ^ 0x55
    exponent, mantissa = (a >> 4) & 0x07, a & 0x0F
    magnitude = np.where(
        exponent == 0, (mantissa << 4) + 8, ((mantissa << 4) + 0x108) << np.maximum(exponent - 1, 0)
    )
    return np.where(a & 0x80, magnitude, -magnitude).astype(np.int16)


DECODE = {0: _ulaw_table(), 8: _alaw_table()}


def parse_packet(ip: bytes, at: float) -> Packet | None:
    """An IPv4 datagram -> its RTP packet, if it is G.711 RTP; None for anything else."""
    if len(ip) < 20 or ip[0] >> 4 != 4 or ip[9] != socket.IPPROTO_UDP:
        return None
    header = (ip[0] & 0x0F) * 4
    udp, rtp = ip[header : header + 8], ip[header + 8 :]
    if len(udp) < 8 or len(rtp) < 12 or rtp[0] >> 6 != 2 or (rtp[1] & 0x7F) not in DECODE:
        return None
    sport, dport = struct.unpack("!HH", udp[:4])
    payload = rtp[12 + 4 * (rtp[0] & 0x0F) :]  # past any CSRCs
    samples = DECODE[rtp[1] & 0x7F][np.frombuffer(payload, dtype=np.uint8)] / 32768.0
    rms = float(np.sqrt(np.mean(samples.astype(np.float64) ** 2))) if len(samples) else 0.0
    return Packet(
        at=at,
        src=f"{socket.inet_ntoa(ip[12:16])}:{sport}",
        dst=f"{socket.inet_ntoa(ip[16:20])}:{dport}",
        seq=struct.unpack("!H", rtp[2:4])[0],
        rms=rms,
    )


def last_voiced_sent(packets: list[Packet], phone: str, start: float, end: float) -> float | None:
    """When the last voiced packet the phone sent between `start` and `end` left it."""
    sent = [p.at for p in packets if p.src == phone and start <= p.at <= end and p.voiced]
    return max(sent) if sent else None


def first_voiced_received(
    packets: list[Packet], phone: str, after: float, within_s: float = 5.0
) -> float | None:
    """When the first voiced packet for the phone reached it, at or after `after`."""
    got = [
        p.at for p in packets if p.dst == phone and after <= p.at <= after + within_s and p.voiced
    ]
    return min(got) if got else None


def network_hops(
    packets: list[Packet], phone: str, play: Play, stopped_at: float
) -> dict[str, float]:
    """One caller line's network hops, seconds after `stopped_at` (where the bench places the
    line's last voiced sample): its last voiced packet out, the reply's first voiced packet in."""
    hops: dict[str, float] = {}
    line_end = play.started_at + play.duration_s + LINE_TAIL_S
    if (sent := last_voiced_sent(packets, phone, play.started_at, line_end)) is not None:
        hops["caller_sent"] = sent - stopped_at
    if (got := first_voiced_received(packets, phone, stopped_at)) is not None:
        hops["phone_network"] = got - stopped_at
    return hops


class RtpTap:
    """Collects `Packet`s on `lo` in a thread of its own while running (start/stop)."""

    def __init__(self) -> None:
        self.packets: list[Packet] = []
        self.error: str | None = None
        self._sock: socket.socket | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> bool:
        try:
            sock = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(ETH_P_ALL))
            sock.bind(("lo", 0))
            code = b"".join(struct.pack("HBBI", *op) for op in FILTER)
            program = ctypes.create_string_buffer(code)
            sock.setsockopt(
                socket.SOL_SOCKET,
                SO_ATTACH_FILTER,
                struct.pack("HL", len(FILTER), ctypes.addressof(program)),
            )
            sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        except OSError as err:
            self.error = f"no RTP tap on lo ({err}; needs CAP_NET_RAW)"
            return False
        sock.settimeout(0.2)
        self._sock = sock
        self._thread = threading.Thread(target=self._read, name="rtp-tap", daemon=True)
        self._thread.start()
        return True

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(2.0)
        if self._sock is not None:
            self._sock.close()

    def _read(self) -> None:
        assert self._sock is not None
        while not self._stop.is_set():
            try:
                data, ancillary, _, address = self._sock.recvmsg(2048, socket.CMSG_SPACE(16))
            except TimeoutError:
                continue
            except OSError:
                return
            if address[2] != PACKET_HOST:
                continue
            at = next(
                (
                    sec + nsec / 1e9
                    for level, kind, value in ancillary
                    if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS
                    for sec, nsec in [struct.unpack("qq", value[:16])]
                ),
                None,
            )
            if at is not None and (packet := parse_packet(data, at)) is not None:
                self.packets.append(packet)
