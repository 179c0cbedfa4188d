"""livekit-agents' event-loop monitor in a call process: from its call's start, not while warm.

livekit-agents starts its loop monitor (`telemetry.loop_monitor`: a 20 ms loop timer and a
watchdog thread, ~0.7 % of a core per process) in every job process as it starts. The worker
keeps `WORKER_IDLE_PROCESSES` of them warm (one per line by default), so a box of 12 lines
spent ~8 % of a core watching loops that had nothing to run. A warm process now starts without
it, and the call starts it on the call's own loop, with the thresholds livekit would have read
(`LIVEKIT_AGENTS_LOOP_BLOCK_WARN_MS`, `LIVEKIT_AGENTS_LOOP_BLOCK_ERROR_MS`; a warn threshold of
0 still turns it off).
"""

from __future__ import annotations

import asyncio
import os

from livekit.agents.telemetry import loop_monitor

# what this process's environment asked for, read before `pause` turns livekit's start off
_thresholds: loop_monitor.LoopMonitorThresholds | None = None


def pause() -> None:
    """In a call process's prewarm: livekit's start of the job loop then finds the monitor off."""
    global _thresholds
    _thresholds = loop_monitor.LoopMonitorThresholds.from_env()
    os.environ[loop_monitor.ENV_WARN_THRESHOLD_MS] = "0"


def resume() -> None:
    """At the call's start, on its loop: the monitor as livekit would have run it all along."""
    if _thresholds is not None:
        loop_monitor.start_monitoring(
            asyncio.get_running_loop(), thresholds=_thresholds, name="job"
        )
