"""Finished calls out of Redis and into the history, and the history kept to RETENTION_DAYS.

The one writer of the history. Each pass reads the calls that may be over (`dialroom.history
.live`), writes each one that is (an idempotent upsert by call id), and only then lets its
Redis keys expire after CALL_RECORD_TTL_S. Killed between the two, the next pass writes the
call again: the same row. Several dispatchers may archive at once for the same reason.
Once a day (and at start) calls older than RETENTION_DAYS are pruned, and recordings older
than that (`dialroom.recordings`, by the file's age: one whose record was lost goes too).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable

from redis.asyncio import Redis

from dialroom.history import ArchivedCall, HistoryStore, memory
from dialroom.history.live import forget_moved_on, gather, let_go, maybe_over, trim_expired
from dialroom.recordings import RecordingStore

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
        recordings: RecordingStore | None = None,
        on_archived: Callable[[ArchivedCall], Awaitable[None]] | None = None,
    ) -> None:
        self.redis = redis
        self.history = history
        self.record_ttl_s = record_ttl_s
        self.retention_days = retention_days
        self.clock = clock
        self.on_archived = on_archived  # call events and metrics (`dispatcher.call_events`)
        self._pruned_at: float | None = None
        self.recordings = recordings  # pruned with the calls, by the files' age

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
            await memory.remember(self.history.engine, call)  # persona `memory:`: its note
            if self.on_archived is not None:  # before let_go: a failure here archives it again
                await self.on_archived(call)
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
        cutoff = now - self.retention_days * DAY_S
        gone = await self.history.prune(older_than=cutoff)
        await memory.forget_expired(self.history.engine, now=now)  # notes past their keep_days
        files = await self.recordings.prune(older_than=cutoff) if self.recordings else 0
        self._pruned_at = now
        if gone or files:
            logger.info(
                "pruned %d call(s) and %d recording(s) older than %g days",
                gone,
                files,
                self.retention_days,
            )
        return gone
