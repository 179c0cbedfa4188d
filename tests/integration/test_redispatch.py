"""A dispatch no worker took is made again, against the real livekit-server.

The stack runs with no workers, so every dispatch stays jobless, exactly what livekit-server
leaves behind when every worker reported itself full at the moment it offered the job.
"""

from __future__ import annotations

import time

import pytest
from livekit import api
from redis.asyncio import Redis

from dialroom.call_status import CallStatus, claim_dial
from dispatcher.redispatch import redispatch_untaken
from tests.support.dispatching import (
    AGENT,
    dispatched,
    dispatcher_running,
    eventually,
    is_,
    livekit,
    place,
    settings_for,
)
from tests.support.stack import RunningStack

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


async def dispatch_ids(lk: api.LiveKitAPI, call_id: str) -> list[str]:
    """Our agent's dispatches (livekit-server adds one of its own, for unnamed agents)."""
    found = await lk.agent_dispatch.list_dispatch(room_name=f"call-{call_id}")
    return [d.id for d in found if d.agent_name == AGENT]


async def dialing(stack: RunningStack, redis_url: str, store: Redis) -> str:
    """A call dispatched by a real dispatcher run, left `dialing` with its jobless dispatch."""
    call_id = await place(store)
    settings = settings_for(stack, redis_url, redispatch_after_s=3600)
    async with dispatcher_running(settings, store):
        await eventually(is_(store, call_id, CallStatus.DIALING))

        async def dispatch_made() -> bool:  # `dialing` is written just before the dispatch
            return len(await dispatched(stack, call_id)) == 1

        await eventually(dispatch_made)
    return call_id


async def test_a_jobless_dispatch_is_replaced_once_it_is_old_enough(
    stack: RunningStack, redis_url: str, store: Redis
) -> None:
    call_id = await dialing(stack, redis_url, store)
    settings = settings_for(stack, redis_url, redispatch_after_s=30)
    async with livekit(stack) as lk:
        first = await dispatch_ids(lk, call_id)
        assert len(first) == 1
        assert await redispatch_untaken(store, lk, settings) == 0, "too young to give up on"

        later = time.time() + 31
        assert await redispatch_untaken(store, lk, settings, now=later) == 1
        second = await dispatch_ids(lk, call_id)
        assert len(second) == 1 and second != first, "the old dispatch is replaced, not doubled"


async def test_a_call_a_worker_has_dialed_is_never_dispatched_again(
    stack: RunningStack, redis_url: str, store: Redis
) -> None:
    call_id = await dialing(stack, redis_url, store)
    assert await claim_dial(store, call_id, 1)  # what a worker does before it dials
    settings = settings_for(stack, redis_url, redispatch_after_s=30)
    async with livekit(stack) as lk:
        first = await dispatch_ids(lk, call_id)
        later = time.time() + 3600
        assert await redispatch_untaken(store, lk, settings, now=later) == 0
        assert await dispatch_ids(lk, call_id) == first
