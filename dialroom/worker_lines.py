"""The workers' lines as they share them in Redis, so that one worker, or the dispatcher, can
see the others' (written by `worker.capacity`).

Per worker: `free_lines` (calls it can still take; expires unless refreshed, so a dead
worker's lines stop counting), `lease` (it is alive) and `rooms` (the calls it serves).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from redis.asyncio import Redis

WORKER_PREFIX = "dialroom:worker:"  # + <worker id>:free_lines | :lease | :rooms


def key(worker_id: str, what: str) -> str:
    return f"{WORKER_PREFIX}{worker_id}:{what}"


async def worker_ids(redis: Redis, what: str) -> AsyncIterator[str]:
    """Ids of the workers that have a `what` key."""
    async for raw in redis.scan_iter(match=key("*", what)):
        name = raw.decode() if isinstance(raw, bytes) else raw
        yield name.removeprefix(WORKER_PREFIX).removesuffix(f":{what}")


async def free_lines(redis: Redis, *, besides: str = "") -> int:
    """Free lines of the live workers (but `besides`)."""
    ids = [worker_id async for worker_id in worker_ids(redis, "free_lines") if worker_id != besides]
    values = await redis.mget([key(i, "free_lines") for i in ids]) if ids else []
    return sum(int(v) for v in values if v is not None)
