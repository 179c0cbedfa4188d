"""The workers' lines as they share them in Redis, so that one worker, or the dispatcher, can
see the others' (written by `worker.heartbeat`).

Three keys for all workers together, so that reading them costs the same however many other
keys Redis holds (a SCAN would walk the whole keyspace on every offered call and every poll):

- `BEATS`, a sorted set: worker id -> the time of its last heartbeat (ms, Redis' own clock,
  so workers on several hosts agree). A worker is alive while its heartbeat is younger than
  `LEASE_TTL_MS`; its free lines count while younger than `FREE_LINES_TTL_MS`.
- `FREE`, a hash: worker id -> how many more calls it can take.
- `ROOMS`, a hash: worker id -> the rooms of the calls it serves (JSON list).

A worker whose lease ran out is forgotten by whoever reaps it (`claim_dead`), so the three
stay as small as the number of live workers.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from redis.asyncio import Redis
from redis.exceptions import WatchError

BEATS = "dialroom:workers:beat"
FREE = "dialroom:workers:free_lines"
ROOMS = "dialroom:workers:rooms"

# A dead worker's free lines stop counting after this. Not shorter: a worker busy loading
# models on a loaded box can miss a few heartbeats, and a live worker's lines that drop out
# of the count make a full worker tell a caller "all lines busy" while a line is free.
FREE_LINES_TTL_MS = 4000
LEASE_TTL_MS = 8000  # a worker silent this long is dead: its calls are ended


async def now_ms(redis: Redis) -> int:
    """Redis' clock, the one all leases are measured by."""
    seconds, micros = await redis.time()
    return int(seconds) * 1000 + int(micros) // 1000


async def beat(redis: Redis, worker_id: str, *, free: int, rooms: list[str]) -> None:
    """A worker's heartbeat: it is alive, has `free` lines and serves `rooms`."""
    now = await now_ms(redis)
    async with redis.pipeline(transaction=True) as tx:
        tx.zadd(BEATS, {worker_id: now})
        tx.hset(FREE, worker_id, max(0, free))
        tx.hset(ROOMS, worker_id, json.dumps(sorted(rooms)))
        await tx.execute()


async def set_free(redis: Redis, worker_id: str, free: int) -> None:
    """A worker's free lines between heartbeats (it has just accepted a call)."""
    await redis.hset(FREE, worker_id, max(0, free))


async def free_lines(redis: Redis, *, besides: str = "") -> int:
    """Free lines of the live workers (but `besides`)."""
    since = await now_ms(redis) - FREE_LINES_TTL_MS
    ids = [i for i in await redis.zrangebyscore(BEATS, since, "+inf") if i != besides]
    values = await redis.hmget(FREE, ids) if ids else []
    return sum(int(v) for v in values if v is not None)


@dataclass(frozen=True)
class Leases:
    """The workers' leases as one reaper sees them."""

    dead: list[str]  # workers whose lease ran out (or that left rooms and no heartbeat)
    live_rooms: frozenset[str]  # rooms a live worker serves: never ended as a dead one's
    cutoff_ms: int  # a heartbeat at or before this is too old


async def leases(redis: Redis, *, lease_ms: int = LEASE_TTL_MS) -> Leases:
    cutoff = await now_ms(redis) - lease_ms
    beats = dict(await redis.zrange(BEATS, 0, -1, withscores=True))
    rooms: dict[str, str] = await redis.hgetall(ROOMS)
    live = {worker_id for worker_id, at in beats.items() if at > cutoff}
    live_rooms = frozenset(room for w in live for room in json.loads(rooms.get(w) or "[]"))
    dead = sorted((set(beats) | set(rooms)) - live)
    return Leases(dead=dead, live_rooms=live_rooms, cutoff_ms=cutoff)


async def claim_dead(redis: Redis, worker_id: str, *, cutoff_ms: int) -> list[str] | None:
    """Forget a dead worker and return the rooms it served; None if it has beaten since
    `cutoff_ms` (it was slow, not dead). Atomic: of several reapers, one gets the rooms."""
    async with redis.pipeline(transaction=True) as pipe:
        while True:
            try:
                await pipe.watch(BEATS, ROOMS)
                at = await pipe.zscore(BEATS, worker_id)
                if at is not None and at > cutoff_ms:
                    return None
                rooms: list[str] = json.loads(await pipe.hget(ROOMS, worker_id) or "[]")
                pipe.multi()
                pipe.zrem(BEATS, worker_id)
                pipe.hdel(FREE, worker_id)
                pipe.hdel(ROOMS, worker_id)
                await pipe.execute()
                return rooms
            except WatchError:
                continue
