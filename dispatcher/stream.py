"""The dispatcher's side of the dial queue: read, keep claimed, acknowledge, promote what is due.

An entry is read with XREADGROUP and stays in the group's pending list until `ack`, so a
dispatcher killed mid-job leaves it there: the same dispatcher reads its own pending entries
first when it comes back, and any dispatcher takes over an entry idle for `claim_idle_ms`
(its holder is gone) with XAUTOCLAIM. A holder that is alive but waiting (for a free slot, for
LiveKit to come back) calls `keep` so its entry never looks idle.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from redis.asyncio import Redis
from redis.exceptions import ResponseError

from dialroom.dial import DialRequest
from dialroom.dial_queue import GROUP, QUEUE_STREAM, REQUEST_KEY, SCHEDULED

logger = logging.getLogger("dialroom.dispatcher")

FAILURES = "dialroom:dial:failures"  # hash: queue entry id -> tries that raised (`failed`)

# Moves due calls from the schedule into the stream, atomically: each exactly once.
_PROMOTE = """
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[2])
for _, call_id in ipairs(due) do
    redis.call('ZREM', KEYS[1], call_id)
    local request = redis.call('GET', ARGV[3] .. call_id)
    if request then
        redis.call('XADD', KEYS[2], '*', 'request', request)
    end
end
return #due
"""


@dataclass(frozen=True)
class Job:
    entry_id: str
    request: DialRequest

    @property
    def due_at(self) -> float:
        """When the entry was added, i.e. when the call became due (stream ids are ms times)."""
        return int(self.entry_id.split("-")[0]) / 1000


class DialStream:
    def __init__(self, redis: Redis, *, consumer: str, claim_idle_ms: int) -> None:
        self.redis = redis
        self.consumer = consumer
        self.claim_idle_ms = claim_idle_ms
        self._promote = redis.register_script(_PROMOTE)
        # entries this dispatcher's own dispatch tasks hold (`dispatcher.in_flight`)
        self.in_flight: set[str] = set()

    async def ensure_group(self) -> None:
        try:
            await self.redis.xgroup_create(QUEUE_STREAM, GROUP, id="0", mkstream=True)
        except ResponseError as err:
            if "BUSYGROUP" not in str(err):
                raise

    async def promote_due(self, *, now: float | None = None, limit: int = 100) -> int:
        prefix = REQUEST_KEY.format(call_id="")
        moved = await self._promote(
            keys=[SCHEDULED, QUEUE_STREAM], args=[now or time.time(), limit, prefix]
        )
        return int(moved)

    async def next_job(self, *, block_ms: int) -> Job | None:
        """Own pending entry first, then another dispatcher's stale one, then a new one."""
        for fetch in (self._own_pending, self._stale):
            if (job := await fetch()) is not None:
                return job
        reply = await self.redis.xreadgroup(
            GROUP, self.consumer, {QUEUE_STREAM: ">"}, count=1, block=block_ms
        )
        return await self._first(reply)

    async def ack(self, job: Job) -> None:
        """Done with this entry: acknowledged and deleted, so the stream's length is the queue."""
        await self._drop(job.entry_id)

    async def failed(self, job: Job) -> int:
        """Count a try of this entry that raised; how many have, so far.

        In Redis, not in memory: a dispatcher that restarts, or another one that takes the
        entry over, goes on counting, so an entry that always fails cannot hold the head of
        the queue for ever.
        """
        return int(await self.redis.hincrby(FAILURES, job.entry_id, 1))

    async def keep(self, job: Job) -> None:
        """Still working on it: reset its idle time so no other dispatcher takes it over."""
        await self.redis.xclaim(QUEUE_STREAM, GROUP, self.consumer, 0, [job.entry_id], justid=True)

    async def _own_pending(self) -> Job | None:
        """The first of this consumer's pending entries that no task of its own holds."""
        reply = await self.redis.xreadgroup(
            GROUP, self.consumer, {QUEUE_STREAM: "0"}, count=len(self.in_flight) + 1
        )
        entries = reply[0][1] if reply else []
        for entry_id, fields in entries:
            if entry_id not in self.in_flight:
                return await self._job(entry_id, fields)
        return None

    async def _stale(self) -> Job | None:
        _next, claimed, deleted = await self.redis.xautoclaim(
            QUEUE_STREAM, GROUP, self.consumer, self.claim_idle_ms, start_id="0-0", count=1
        )
        for entry_id in deleted:  # pending, but the entry itself is gone: nothing to do
            await self.redis.xack(QUEUE_STREAM, GROUP, entry_id)
        if not claimed:
            return None
        entry_id, fields = claimed[0]
        if entry_id in self.in_flight:
            return None  # its own task is slow (LiveKit), not gone
        logger.info("took over queue entry %s from a stopped dispatcher", entry_id)
        return await self._job(entry_id, fields)

    async def _first(self, reply: Any) -> Job | None:
        """The first entry of an XREADGROUP reply: `[[stream, [(id, fields), ...]]]`."""
        entries = reply[0][1] if reply else []
        if not entries:
            return None
        entry_id, fields = entries[0]
        return await self._job(entry_id, fields)

    async def _job(self, entry_id: str, fields: dict[str, str] | None) -> Job | None:
        if not fields:  # pending, but the entry itself is gone: nothing to do
            await self._drop(entry_id)
            return None
        try:
            request = DialRequest.model_validate_json(fields["request"])
        except (KeyError, ValidationError) as err:
            # Not a call: nothing can ever dial it, so it is dropped (and said so) rather than
            # retried forever at the head of the queue.
            logger.error("dropping malformed queue entry %s: %s", entry_id, err)
            await self._drop(entry_id)
            return None
        return Job(entry_id=entry_id, request=request)

    async def _drop(self, entry_id: str) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.xack(QUEUE_STREAM, GROUP, entry_id)
            pipe.xdel(QUEUE_STREAM, entry_id)
            pipe.hdel(FAILURES, entry_id)
            await pipe.execute()
