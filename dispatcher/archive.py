"""Finished calls out of Redis and into the history, and the history kept to RETENTION_DAYS.

The one writer of the history. Each pass reads the calls that may be over (`dialroom.history
.live`), writes each one that is (an idempotent upsert by call id), and only then lets its
Redis keys expire after CALL_RECORD_TTL_S. Killed between the two, the next pass writes the
call again: the same row. Several dispatchers may archive at once for the same reason.
Once a day (and at start) calls older than RETENTION_DAYS are pruned.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from redis.asyncio import Redis

from dialroom.history import HistoryStore
from dialroom.history.live import forget_moved_on, gather, let_go, maybe_over, trim_expired

logger = logging.getLogger("dialroom.dispatcher")

BATCH = 200  # calls looked at per index and pass
PRUNE_EVERY_S = 24 * 3600.0
DAY_S = 86400.0


class Archiver:
    def __init__(
        self,
        redis: Redis,
        history: HistoryStore,
        *,
        record_ttl_s: int,
        retention_days: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.redis = redis
        self.history = history
        self.record_ttl_s = record_ttl_s
        self.retention_days = retention_days
        self.clock = clock
        self._pruned_at: float | None = None

    async def step(self) -> int:
        """One pass: archive what is over, prune when a day has gone by; calls archived."""
        moved = await self.archive()
        await self.prune_if_due()
        return moved

    async def archive(self) -> int:
        moved = 0
        for call_id, seen in (await maybe_over(self.redis, count=BATCH)).items():
            call = await gather(self.redis, call_id)
            if call is None:  # live, or waiting for its retry: a later pass
                await forget_moved_on(self.redis, call_id, seen=seen)
                continue
            await self.history.record(call)
            await let_go(
                self.redis, call_id, seen=seen, ttl_s=self.record_ttl_s, attempts=call.attempts
            )
            moved += 1
        await trim_expired(self.redis, ttl_s=self.record_ttl_s, now=self.clock())
        if moved:
            logger.info("archived %d finished call(s)", moved)
        return moved

    async def prune_if_due(self) -> int:
        now = self.clock()
        if self._pruned_at is not None and now - self._pruned_at < PRUNE_EVERY_S:
            return 0
        gone = await self.history.prune(older_than=now - self.retention_days * DAY_S)
        self._pruned_at = now
        if gone:
            logger.info("pruned %d call(s) older than %g days", gone, self.retention_days)
        return gone
