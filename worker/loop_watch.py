"""livekit-agents' event-loop monitor, off in call processes unless the operator asks for it.

livekit-agents watches each job process's event loop for blocks: a heartbeat timer on the loop
and a watchdog thread, both every fifth of the warn threshold (`telemetry/loop_monitor.py`,
`LIVEKIT_AGENTS_LOOP_BLOCK_WARN_MS`, default 100 ms, so 20 ms ticks: 100 wake-ups a second in
every call process, warm or in a call). Its watchdog thread was 15 % of the busy Python samples
of a call process at 8 calls, and an idle loop with it costs 0.7-0.8 % of a core (0.4-0.5 % at
a 250 ms threshold, its slowest 50 ms tick; nothing with it off): paid by every call process
and every warm one (`bench/README.md`, "Measured (2026-12-06)"). It only logs blocks, which
nothing in Dialroom reads, so it is off by default; `LIVEKIT_AGENTS_LOOP_BLOCK_WARN_MS=250`
(or any value) in the environment turns it back on to diagnose audio gaps.
"""

from __future__ import annotations

import os

ENV_WARN_MS = "LIVEKIT_AGENTS_LOOP_BLOCK_WARN_MS"
OFF = "0"  # livekit-agents: "0 disables the monitor"


def apply_default(environ: dict[str, str] | None = None) -> str:
    """Before the worker starts its call processes (they inherit it): the monitor off, unless
    the environment already sets a threshold. Returns the value in force."""
    env = os.environ if environ is None else environ
    return env.setdefault(ENV_WARN_MS, OFF)
