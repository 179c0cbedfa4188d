"""Work that is due in a Redis sorted set, claimed with a lease and run one task per member.

Status webhooks (`dispatcher.webhooks`, a member per call) and call events
(`dispatcher.event_delivery`, a member per event) are delivered the same way: a member whose
score (its due time) has passed is claimed by pushing its score `LEASE_S` ahead, so other
dispatchers leave it alone while this one works on it, and a dispatcher killed mid-work leaves
it to be claimed again once the lease runs out. The work itself decides when the member is due
again or removes it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from redis.asyncio import Redis

logger = logging.getLogger("dialroom.dispatcher")

LEASE_S = 60.0  # longer than a slot wait plus a POST; a dead holder's work comes back after it

# KEYS: the sorted set. ARGV: now, the lease's end, how many. Claims and returns what is due.
CLAIM_DUE = """
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[3])
for _, member in ipairs(due) do
    redis.call('ZADD', KEYS[1], 'XX', ARGV[2], member)
end
return due
"""


class LeasedWork:
    """Claims due members of `due_key` and runs `work(member)` for each, at most one task per
    member in this process; a failure is logged and the member comes back after its lease."""

    def __init__(
        self, redis: Redis, due_key: str, work: Callable[[str], Awaitable[None]], *, what: str
    ) -> None:
        self.due_key, self.work, self.what = due_key, work, what
        self._claim = redis.register_script(CLAIM_DUE)
        self._running: dict[str, asyncio.Task[None]] = {}

    async def start_due(self, *, limit: int = 100) -> None:
        """Start the work of every member that is due; returns without waiting for it."""
        now = time.time()
        for raw in await self._claim(keys=[self.due_key], args=[now, now + LEASE_S, limit]):
            member = raw.decode() if isinstance(raw, bytes) else str(raw)
            if member not in self._running:
                task = asyncio.create_task(self._run(member), name=f"{self.what}-{member}")
                self._running[member] = task
                task.add_done_callback(lambda _t, m=member: self._running.pop(m, None))

    async def drain(self) -> None:
        """Wait for the work in progress (not for retries due later)."""
        while self._running:
            await asyncio.gather(*self._running.values(), return_exceptions=True)

    async def _run(self, member: str) -> None:
        try:
            await self.work(member)
        except Exception:
            # Redis trouble and the like: the lease runs out and the member is tried again.
            logger.exception("%s %s: stopped, tried again after its lease", self.what, member)
