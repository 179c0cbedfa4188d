"""Rate limits: fixed one-minute windows counted in Redis, shared by every API process.

Two counters. Per key: `dialroom:ratelimit:<key fingerprint>:<minute>` is INCRed per request
(the API key itself is never stored, only a fingerprint of it). Per client address:
`dialroom:authfail:<address>:<minute>` counts failed authentications; once an address has
failed `limit` times in a window, every request from it is refused until the window ends, a
right key included, so guessing keys gains nothing from the answers.
"""

from __future__ import annotations

import math
import time

from redis.asyncio import Redis

WINDOW_S = 60
KEY = "dialroom:ratelimit:{fingerprint}:{window}"
AUTH_FAILURES = "dialroom:authfail:{client}:{window}"


async def retry_after(redis: Redis, fingerprint: str, *, limit: int) -> int | None:
    """Count one request; None when it is within `limit`, else seconds until the next window."""
    window, wait = _window()
    count = await _count(redis, KEY.format(fingerprint=fingerprint, window=window))
    return None if count <= limit else wait


async def auth_blocked(redis: Redis, client: str, *, limit: int) -> int | None:
    """Seconds until `client` may try again when it failed `limit` times this window, else None."""
    window, wait = _window()
    failures = await redis.get(AUTH_FAILURES.format(client=client, window=window))
    return wait if failures is not None and int(failures) >= limit else None


async def count_auth_failure(redis: Redis, client: str) -> None:
    window, _ = _window()
    await _count(redis, AUTH_FAILURES.format(client=client, window=window))


def _window() -> tuple[int, int]:
    """This window's number and the seconds until the next one (at least 1)."""
    now = time.time()
    window = int(now // WINDOW_S)
    return window, max(1, math.ceil((window + 1) * WINDOW_S - now))


async def _count(redis: Redis, key: str) -> int:
    async with redis.pipeline(transaction=True) as pipe:
        pipe.incr(key)
        pipe.expire(key, WINDOW_S + 1)
        count, _ = await pipe.execute()
    return int(count)
