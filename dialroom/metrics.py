"""Counters every process adds to in Redis, so the API's /metrics speaks for the whole stack.

Calls by status are counted by `call_status` as each status is entered; the dial latency histogram
(from the moment a call is due to its agent dispatch) is observed by the dispatcher.
"""

from __future__ import annotations

from dataclasses import dataclass

from redis.asyncio import Redis

from dialroom.call_status import STATUS_COUNTS_KEY

DIAL_LATENCY_KEY = "dialroom:metrics:dial_latency"  # hash: bucket bound / sum / count
DIAL_LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)


@dataclass(frozen=True)
class Histogram:
    buckets: list[tuple[float, int]]  # (upper bound, cumulative count), +Inf last
    total: float
    count: int


async def observe_dial_latency(redis: Redis, seconds: float) -> None:
    bound = next((b for b in DIAL_LATENCY_BUCKETS if seconds <= b), float("inf"))
    async with redis.pipeline(transaction=True) as pipe:
        pipe.hincrby(DIAL_LATENCY_KEY, repr(bound), 1)
        pipe.hincrbyfloat(DIAL_LATENCY_KEY, "sum", seconds)
        pipe.hincrby(DIAL_LATENCY_KEY, "count", 1)
        await pipe.execute()


async def status_counts(redis: Redis) -> dict[str, int]:
    raw = await redis.hgetall(STATUS_COUNTS_KEY)
    return {_text(k): int(v) for k, v in raw.items()}


async def dial_latency(redis: Redis) -> Histogram:
    raw = {_text(k): _text(v) for k, v in (await redis.hgetall(DIAL_LATENCY_KEY)).items()}
    running = 0
    buckets = []
    for bound in (*DIAL_LATENCY_BUCKETS, float("inf")):
        running += int(raw.get(repr(bound), 0))
        buckets.append((bound, running))
    return Histogram(buckets=buckets, total=float(raw.get("sum", 0)), count=running)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
