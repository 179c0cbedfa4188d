"""The do-not-call list: E.164 numbers that no outbound call may ring.

Written by the API (`/api/dnc`) and by the worker (a callee who asks not to be called again);
read by the API (a single call to a listed number is refused, campaign rows are skipped) and
by the dispatcher, which checks once more just before it moves a call to `dialing`, so a
number listed after its call was queued is never dialed.

Keys: `dialroom:dnc` (sorted set: number -> when it was listed, so listings come newest
first) and `dialroom:dnc:source` (hash: number -> who listed it and why), written together.
"""

from __future__ import annotations

import logging
import time

from pydantic import BaseModel
from redis.asyncio import Redis

from dialroom.dial import DialRequest
from dialroom.dial_queue import cancel_attempt
from dialroom.redact import mask_number

logger = logging.getLogger("dialroom.dnc")

DNC_KEY = "dialroom:dnc"
SOURCE_KEY = "dialroom:dnc:source"
DNC_DETAIL = "do-not-call: the number is on the do-not-call list"


class Listed(BaseModel):
    number: str
    added_at: float
    source: str


async def add(redis: Redis, number: str, *, source: str) -> tuple[Listed, bool]:
    """List `number` (E.164, checked by the caller); True when it was not listed before.

    A repeat keeps the first entry: when and why a number was first listed is what a
    compliance question asks about.
    """
    now = time.time()
    async with redis.pipeline(transaction=True) as pipe:
        pipe.zadd(DNC_KEY, {number: now}, nx=True)
        pipe.hsetnx(SOURCE_KEY, number, source)
        pipe.zscore(DNC_KEY, number)
        pipe.hget(SOURCE_KEY, number)
        added, _, added_at, first_source = await pipe.execute()
    entry = Listed(number=number, added_at=float(added_at), source=_text(first_source or source))
    return entry, bool(added)


async def remove(redis: Redis, number: str) -> bool:
    """Take `number` off the list; False when it was not on it."""
    async with redis.pipeline(transaction=True) as pipe:
        pipe.zrem(DNC_KEY, number)
        pipe.hdel(SOURCE_KEY, number)
        removed, _ = await pipe.execute()
    return bool(removed)


async def is_listed(redis: Redis, number: str) -> bool:
    return await redis.zscore(DNC_KEY, number) is not None


async def listed_among(redis: Redis, numbers: list[str]) -> set[str]:
    """Which of `numbers` are listed, in one round trip (a campaign's rows)."""
    if not numbers:
        return set()
    scores = await redis.zmscore(DNC_KEY, numbers)
    return {number for number, score in zip(numbers, scores, strict=True) if score is not None}


async def page(redis: Redis, *, offset: int, limit: int) -> tuple[list[Listed], int]:
    """Listed numbers, newest first, and how many there are in all."""
    async with redis.pipeline(transaction=False) as pipe:
        pipe.zrevrange(DNC_KEY, offset, offset + limit - 1, withscores=True)
        pipe.zcard(DNC_KEY)
        rows, total = await pipe.execute()
    numbers = [_text(number) for number, _ in rows]
    sources = await redis.hmget(SOURCE_KEY, numbers) if numbers else []
    entries = [
        Listed(number=number, added_at=float(score), source=_text(source or ""))
        for number, (_, score), source in zip(numbers, rows, sources, strict=True)
    ]
    return entries, int(total)


async def cancel_if_listed(redis: Redis, request: DialRequest) -> bool:
    """The dispatcher's last check before dialing: True (and the call `canceled`, if it was
    still waiting) when its number is on the list."""
    if not await is_listed(redis, request.to_number):
        return False
    logger.info(
        "call %s not dialed: %s is on the do-not-call list",
        request.call_id,
        mask_number(request.to_number),
        extra={"call_id": request.call_id},
    )
    await cancel_attempt(redis, request, detail=DNC_DETAIL)
    return True


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
