"""Outbound calls wait in the queue, in order, while no worker has a free line: dispatched
anyway they would sit in `dialing` until one frees up, and fail after `dial_timeout_s`.

The workers' free lines are what `worker.capacity` shares in Redis (`dialroom.worker_lines`);
here the test writes them, as a worker would, against the real dispatcher and livekit-server.
"""

from __future__ import annotations

import asyncio

import pytest
from redis.asyncio import Redis

from dialroom.call_status import CallStatus, claim_dial
from dialroom.worker_lines import beat
from tests.support.dispatching import dispatcher_running, eventually, is_, place, settings_for
from tests.support.dispatching import status as status_of
from tests.support.stack import RunningStack

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


async def test_calls_wait_in_the_queue_until_a_worker_has_a_free_line(
    stack: RunningStack, redis_url: str, store: Redis
) -> None:
    first, second = await place(store), await place(store)
    settings = settings_for(stack, redis_url, wait_for_free_line=True)
    async with dispatcher_running(settings, store):
        await asyncio.sleep(0.5)  # several polls: nobody has a line
        assert [await status_of(store, c) for c in (first, second)] == [CallStatus.QUEUED] * 2

        await beat(store, "w1", free=1, rooms=[])  # a worker with one line
        await eventually(is_(store, first, CallStatus.DIALING))
        await asyncio.sleep(0.5)  # the worker has not taken the call yet: its line is spoken for
        assert await status_of(store, second) == CallStatus.QUEUED, "one line, one call"
        await beat(store, "w1", free=0, rooms=["r1"])  # it takes the call and dials
        assert await claim_dial(store, first, 1)
        await asyncio.sleep(0.5)
        assert await status_of(store, second) == CallStatus.QUEUED, "no line: it waits"

        await beat(store, "w2", free=2, rooms=[])  # another worker comes up
        await eventually(is_(store, second, CallStatus.DIALING))
