"""A call whose worker died mid-call is failed as soon as it is provably over, not after the
sweep's hour (`dispatcher.abandoned`), against a real Redis: over means no live worker's
lease names its room *and* its room is gone from LiveKit, since either alone also happens
while a call goes on (Dialroom's Redis restarting; livekit-server restarting)."""

from __future__ import annotations

import time

import pytest
from redis.asyncio import Redis

from dialroom import dial_queue, worker_lines
from dialroom.call_status import CallStatus, claim_dial, current_status
from dialroom.dial import OutboundCall
from dispatcher.abandoned import DETAIL, SETTLE_S, RoomExists, fail_abandoned
from tests.support.statuses import walk

pytestmark = pytest.mark.integration

LATER = SETTLE_S + 1


async def answered(store: Redis) -> str:
    """A call a worker took and answered, as the dispatcher follows it."""
    order = OutboundCall(to_number="+15551234567", persona="demo")
    call_id = (await dial_queue.enqueue(store, order)).call_id
    await walk(store, call_id, CallStatus.DIALING, CallStatus.ANSWERED, attempt=1)
    await store.sadd(dial_queue.ACTIVE, call_id)
    assert await claim_dial(store, call_id, 1)
    return call_id


def rooms(*existing: str) -> RoomExists:
    async def exists(room: str) -> bool:
        return room in existing

    return exists


async def status_of(store: Redis, call_id: str) -> CallStatus:
    now = await current_status(store, call_id)
    assert now is not None
    return now.status


async def test_a_call_nobody_serves_in_a_room_that_is_gone_fails(store: Redis) -> None:
    call_id = await answered(store)
    assert await fail_abandoned(store, rooms(), now=time.time() + LATER) == 1
    now = await current_status(store, call_id)
    assert now is not None and now.status == CallStatus.FAILED and now.detail == DETAIL


async def test_a_call_a_live_worker_serves_goes_on(store: Redis) -> None:
    call_id = await answered(store)
    await worker_lines.beat(store, "w1", free=0, rooms=[f"call-{call_id}"])
    assert await fail_abandoned(store, rooms(), now=time.time() + LATER) == 0
    assert await status_of(store, call_id) == CallStatus.ANSWERED


async def test_a_call_whose_room_lives_goes_on_while_leases_are_out(store: Redis) -> None:
    call_id = await answered(store)  # no lease at all: Dialroom's Redis was away
    assert await fail_abandoned(store, rooms(f"call-{call_id}"), now=time.time() + LATER) == 0
    assert await status_of(store, call_id) == CallStatus.ANSWERED


async def test_a_young_call_is_left_for_its_workers_first_heartbeat(store: Redis) -> None:
    call_id = await answered(store)
    assert await fail_abandoned(store, rooms()) == 0
    assert await status_of(store, call_id) == CallStatus.ANSWERED


async def test_a_call_nobody_took_is_left_to_redispatch(store: Redis) -> None:
    order = OutboundCall(to_number="+15551234567", persona="demo")
    call_id = (await dial_queue.enqueue(store, order)).call_id
    await walk(store, call_id, CallStatus.DIALING, attempt=1)
    await store.sadd(dial_queue.ACTIVE, call_id)
    assert await fail_abandoned(store, rooms(), now=time.time() + LATER) == 0
    assert await status_of(store, call_id) == CallStatus.DIALING
