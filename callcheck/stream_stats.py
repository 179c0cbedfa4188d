"""What the phone's own receive path did to the audio it heard: the jitter buffer's delay and
RTCP's view of the stream (benches subtract the phone's part from "heard at the phone")."""

from __future__ import annotations

import pjsua2 as pj


def receive_stats(stat: pj.StreamStat) -> dict[str, float]:
    """The jitter buffer's state and delay (ms; frames where named so) and RTCP's view."""
    jb, rtcp = stat.jbuf, stat.rtcp
    return {
        "jb_avg_delay_ms": float(jb.avgDelayMsec),
        "jb_min_delay_ms": float(jb.minDelayMsec),
        "jb_max_delay_ms": float(jb.maxDelayMsec),
        "jb_dev_delay_ms": float(jb.devDelayMsec),
        "jb_prefetch_frames": float(jb.prefetch),
        "jb_min_prefetch_frames": float(jb.minPrefetch),
        "jb_max_prefetch_frames": float(jb.maxPrefetch),
        "jb_burst_frames": float(jb.burst),
        "jb_avg_burst_frames": float(jb.avgBurst),
        "jb_size_frames": float(jb.size),
        "jb_lost": float(jb.lost),
        "jb_discard": float(jb.discard),
        "jb_empty": float(jb.empty),
        "rx_packets": float(rtcp.rxStat.pkt),
        "rx_jitter_avg_ms": rtcp.rxStat.jitterUsec.mean / 1000.0,
        "rtt_avg_ms": rtcp.rttUsec.mean / 1000.0,
    }
