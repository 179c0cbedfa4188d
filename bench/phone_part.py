"""The bench phone's own part of "at the phone": what `bench.voice_hops` subtracts or prints
beside the platform's part.

The bench phone (pjsua, `callcheck.pjsua_phone`) is the instrument: its WAV player starts on
its 20 ms conference clock, and what it records has been through its adaptive jitter buffer and
that clock again. The RTP tap (`bench.rtp_tap`) times the packets on either side of it.
"""

from __future__ import annotations

import numpy as np
from rich.console import Console


def platform_parts(hops: dict[str, float], own: float) -> dict[str, float]:
    """One turn's platform part as played, and from packet to packet (network): the phone's
    send clock (`caller_sent`) and receive delay (played - network) left out."""
    parts: dict[str, float] = {}
    if "phone_audio" in hops:
        parts["played"] = hops["phone_audio"] - own
    if "phone_network" in hops and "caller_sent" in hops:
        parts["network"] = hops["phone_network"] - hops["caller_sent"] - own
    if "phone_audio" in hops and "phone_network" in hops:
        parts["phone_receive"] = hops["phone_audio"] - hops["phone_network"]
    return parts


def print_platform(
    console: Console, turns: list[dict[str, float]], own: float
) -> dict[str, list[float]]:
    """The platform's own part on two lines, and the phone's receive delay; returns them."""
    parts = [platform_parts(hops, own) for hops in turns]
    out = {k: [p[k] for p in parts if k in p] for k in ("played", "network", "phone_receive")}
    for key, label in (
        ("played", f"platform's own part, as played by the phone (total - {own:.2f} s set)"),
        ("network", "platform's own part, packet to packet (less the phone's send and receive)"),
        ("phone_receive", "  the bench phone's receive delay (played - network)"),
    ):
        if out[key]:
            p50, p95 = np.percentile(out[key], [50, 95]).tolist()
            console.print(f"{label}: p50 {p50:.2f} s, p95 {p95:.2f} s")
        else:
            console.print(f"{label}: not measured")
    return out


def print_phone(console: Console, calls: list[tuple[int, dict[str, float]]]) -> None:
    """Each call's jitter-buffer statistics, as pjsua read them at the end of the call."""
    for call, jb in calls:
        if "jb_avg_delay_ms" not in jb:
            continue
        console.print(
            f"call {call} bench phone jitter buffer: delay avg {jb['jb_avg_delay_ms']:.0f} ms "
            f"(min {jb['jb_min_delay_ms']:.0f}, max {jb['jb_max_delay_ms']:.0f}), prefetch "
            f"{jb['jb_prefetch_frames']:.0f} frames, burst {jb['jb_burst_frames']:.0f}, discarded "
            f"{jb['jb_discard']:.0f}, empty gets {jb['jb_empty']:.0f}, lost {jb['jb_lost']:.0f}; "
            f"RTCP jitter {jb['rx_jitter_avg_ms']:.1f} ms"
        )
