"""Waiting for a worker's lines to be free again: a call's job ends a moment after its caller
hangs up (the record written, the room left), and a caller arriving before that finds the
line still taken (the busy message, or 486), rightly. Tests and benches that place calls one
batch after another wait here first."""

from __future__ import annotations

import asyncio
import time

from redis.asyncio import Redis

from dialroom.worker_lines import free_lines
from tests.support.stack import RunningStack

POLL_S = 0.25


def wait_for_free_lines(stack: RunningStack, lines: int, *, within_s: float) -> int:
    """Wait until the workers report `lines` free lines (their heartbeats in Redis), at most
    `within_s`; returns the free lines seen last."""

    async def poll() -> int:
        redis = Redis.from_url(stack.state.redis_url, decode_responses=True)
        try:
            deadline = time.monotonic() + within_s
            free = await free_lines(redis)
            while free < lines and time.monotonic() < deadline:
                await asyncio.sleep(POLL_S)
                free = await free_lines(redis)
            return free
        finally:
            await redis.aclose()

    return asyncio.run(poll())
