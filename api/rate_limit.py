"""Per-key rate limit: a fixed one-minute window counted in Redis, shared by every API process.

`dialroom:ratelimit:<key fingerprint>:<minute>` is INCRed per request and expires with its
window; the API key itself is never stored, only a fingerprint of it.
"""

from __future__ import annotations

import math
import time

from redis.asyncio import Redis

WINDOW_S = 60
KEY = "dialroom:ratelimit:{fingerprint}:{window}"


async def retry_after(redis: Redis, fingerprint: str, *, limit: int) -> int | None:
    """Count one request; None when it is within `limit`, else seconds until the next window."""
    now = time.time()
    window = int(now // WINDOW_S)
    key = KEY.format(fingerprint=fingerprint, window=window)
    async with redis.pipeline(transaction=True) as pipe:
        pipe.incr(key)
        pipe.expire(key, WINDOW_S + 1)
        count, _ = await pipe.execute()
    if int(count) <= limit:
        return None
    return max(1, math.ceil((window + 1) * WINDOW_S - now))
