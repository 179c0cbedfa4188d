"""The dispatcher's loops kept alive, and their health told to whoever runs the process.

Why: the dispatcher is a handful of loops in one process (dispatch, campaign feeder, status
sweep, webhook deliveries, redispatch). A loop that raised used to end, silently, while the
process went on looking alive: retries, timeouts and webhooks stopped with no line in the log.
So every loop runs under `Loops.forever`: an exception is logged with its traceback, the loop
waits (`BACKOFF_S`, growing with each failure in a row) and goes on. Each pass that succeeds
is a heartbeat; a loop that also waits inside a pass (the dispatch loop holding a call for a
free slot) beats while it waits.

Health, for the supervisor (`start.py up`) and for people: every `REPORT_EVERY_S` the
dispatcher writes `<DISPATCHER_HEALTH_FILE>.json`, e.g.

    {"at": 1764300000.0, "healthy": false, "stuck": ["sweep"],
     "loops": {"sweep": {"age_s": 21.3, "failures": 9, "last_error": "ResponseError: ..."}, ...}}

and, only while every loop has beaten within `STUCK_AFTER_S`, rewrites
`DISPATCHER_HEALTH_FILE` itself (so its age stays the health, as before). A loop stuck or
failing for longer than that makes the plain file go stale; the JSON names the loop.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger("dialroom.dispatcher")

BACKOFF_S = (0.5, 1.0, 2.0, 5.0, 10.0)  # after 1, 2, 3, ... failures in a row
STUCK_AFTER_S = 30.0  # a loop with no heartbeat this long (+ its pause) is stuck; backoff <= 10 s
REPORT_EVERY_S = 1.0


@dataclass
class LoopState:
    beat_at: float
    every_s: float = 0.0  # the loop's own pause between passes: not counted as stuck
    failures: int = 0  # in a row; 0 after a pass that succeeded
    last_error: str | None = None


def backoff_s(failures: int) -> float:
    return BACKOFF_S[min(failures, len(BACKOFF_S)) - 1]


class Loops:
    """Heartbeats of named loops, and the loop runner that keeps each one going."""

    def __init__(self, *, stuck_after_s: float = STUCK_AFTER_S) -> None:
        self.stuck_after_s = stuck_after_s
        self.states: dict[str, LoopState] = {}

    def beat(self, name: str) -> None:
        state = self.states.setdefault(name, LoopState(beat_at=time.time()))
        state.beat_at = time.time()
        state.failures = 0

    def failed(self, name: str, err: BaseException) -> float:
        """Record a failure; how long the loop waits before its next pass."""
        state = self.states.setdefault(name, LoopState(beat_at=time.time()))
        state.failures += 1
        state.last_error = f"{type(err).__name__}: {err}"[:300]
        wait = backoff_s(state.failures)
        logger.error(
            "dispatcher loop %s failed (%d in a row); again in %gs",
            name,
            state.failures,
            wait,
            exc_info=err,
        )
        return wait

    async def forever(
        self,
        name: str,
        step: Callable[[], Awaitable[bool | None]],
        *,
        every_s: float,
        stopping: asyncio.Event,
    ) -> None:
        """Run `step` every `every_s` until `stopping` is set or `step` returns False."""
        self.beat(name)
        self.states[name].every_s = every_s
        while not stopping.is_set():
            try:
                more = await step()
            except asyncio.CancelledError:
                raise
            except Exception as err:
                await asyncio.sleep(self.failed(name, err))
                continue
            self.beat(name)
            if more is False:
                return
            if every_s > 0:
                await asyncio.sleep(every_s)

    def stuck(self, now: float) -> list[str]:
        return sorted(
            name
            for name, state in self.states.items()
            if now - state.beat_at > self.stuck_after_s + state.every_s
        )

    def report(self, now: float) -> dict[str, object]:
        stuck = self.stuck(now)
        loops = {
            name: {
                "age_s": round(now - state.beat_at, 1),
                "failures": state.failures,
                "last_error": state.last_error,
            }
            for name, state in sorted(self.states.items())
        }
        return {"at": now, "healthy": not stuck, "stuck": stuck, "loops": loops}

    async def write_health(self, path: Path) -> None:
        """The JSON report beside `path`, always; `path` itself only while healthy."""
        report = self.report(time.time())
        text = json.dumps(report)
        await asyncio.to_thread(_replace, status_path(path), text)
        if report["healthy"]:
            await asyncio.to_thread(_replace, path, text)


def status_path(health_file: Path) -> Path:
    """Where the per-loop report goes: `dispatcher.alive` -> `dispatcher.alive.json`."""
    return health_file.with_name(health_file.name + ".json")


def _replace(path: Path, text: str) -> None:
    """Write whole or not at all: a reader never sees half a file."""
    partial = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    partial.write_text(text)
    partial.replace(path)
