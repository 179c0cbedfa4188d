"""A worker's heartbeat in Redis, and the end of a dead worker's calls.

A worker that dies without draining (SIGKILL, the OOM killer, a lost host) cannot hang up:
its callers would sit in silence, because the SIP leg stays in the room after the agent is
gone. So each worker beats every HEARTBEAT_S with its free lines and the rooms it serves
(`dialroom.worker_lines`), and every live worker ends the calls of a worker whose lease ran
out (a room a live worker still serves is left alone).

A lease that ran out proves a worker dead only if it could have renewed it. While Redis is
unreachable (paused, restarting, a network fault) nobody can, and when it comes back every
lease has run out at once: a worker reaping then would hang up every other worker's live
calls. So a worker reaps only once it has itself beaten without a gap longer than MAX_GAP_S
for a whole lease: by then every live worker has had a lease's time to renew its own.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from redis.asyncio import Redis

from dialroom import worker_lines

logger = logging.getLogger("dialroom.capacity")

HEARTBEAT_S = 0.5
MAX_GAP_S = 2.0  # longer between two heartbeats that reached Redis: it was out of reach
REDIS_TIMEOUT_S = 2.0  # a Redis that does not answer is a failed heartbeat, not a hung one
RETRY_MAX_S = 2.0  # a failing heartbeat backs off up to this
# Once Redis is back, every live worker gets a heartbeat through within one retry, well
# inside the lease that the others wait out before they reap anything.
assert (RETRY_MAX_S + REDIS_TIMEOUT_S) * 1000 < worker_lines.LEASE_TTL_MS


def lease_client(url: str) -> Redis:
    return Redis.from_url(
        url,
        decode_responses=True,
        socket_timeout=REDIS_TIMEOUT_S,
        socket_connect_timeout=REDIS_TIMEOUT_S,
    )


class Steady:
    """Whether a worker has reached Redis without a gap for a whole lease (see the module)."""

    def __init__(self, *, lease_s: float, max_gap_s: float = MAX_GAP_S) -> None:
        self._lease_s, self._max_gap_s = lease_s, max_gap_s
        self._since: float | None = None
        self._last: float | None = None

    def beat(self, now: float) -> bool:
        """A heartbeat reached Redis at `now` (monotonic); True when reaping is safe."""
        if self._last is None or now - self._last > self._max_gap_s:
            self._since = now  # first contact, or back after a gap: wait a whole lease
        self._last = now
        assert self._since is not None
        return now - self._since >= self._lease_s


class Heartbeat:
    """One worker's heartbeat loop; `end_call(room)` hangs up a dead worker's call."""

    def __init__(
        self,
        redis: Redis,
        *,
        free: Callable[[], int],
        rooms: Callable[[], list[str]],
        end_call: Callable[[str], Awaitable[None]],
        lease_ms: int = worker_lines.LEASE_TTL_MS,
    ) -> None:
        self.worker_id = ""  # set once the worker has registered (again after reconnecting)
        self._redis = redis
        self._free, self._rooms, self._end_call = free, rooms, end_call
        self._lease_ms = lease_ms
        self._steady = Steady(lease_s=lease_ms / 1000)

    async def run(self) -> None:
        """Beat until cancelled. A failure is logged and retried, never the end of the loop."""
        failures = 0
        while True:
            try:
                await self.beat()
                failures = 0
            except Exception as err:  # any fault: log, back off, go on
                failures += 1
                logger.warning("heartbeat failed (%d in a row): %r", failures, err)
            delay = HEARTBEAT_S if not failures else min(RETRY_MAX_S, HEARTBEAT_S * 2**failures)
            await asyncio.sleep(delay)

    async def beat(self) -> None:
        if not self.worker_id:
            return
        await worker_lines.beat(self._redis, self.worker_id, free=self._free(), rooms=self._rooms())
        if self._steady.beat(time.monotonic()):
            await self._reap_dead_workers()

    async def _reap_dead_workers(self) -> None:
        """End the calls of every worker whose lease ran out (any live worker may do it; a
        room deleted twice is harmless). A room a live worker still serves is left alone."""
        seen = await worker_lines.leases(self._redis, lease_ms=self._lease_ms)
        for worker_id in seen.dead:
            rooms = await worker_lines.claim_dead(self._redis, worker_id, cutoff_ms=seen.cutoff_ms)
            for room in sorted(set(rooms or ()) - seen.live_rooms):
                logger.warning("worker %s is gone: ending its call in room %s", worker_id, room)
                await self._end_call(room)
