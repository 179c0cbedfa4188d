"""A call whose worker died mid-call is failed as soon as it is provably over, not after the
sweep's hour (`dispatcher.abandoned`), against a real Redis: over means no live worker's
lease names its room *and* its room is gone from LiveKit or has nobody but agents in it
(checked against the real livekit-server), since either alone also happens while a call goes
on (Dialroom's Redis restarting; livekit-server restarting)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from livekit import api, rtc
from redis.asyncio import Redis

from dialroom import dial_queue, live_calls, worker_lines
from dialroom.call_events import EVENT_KEY
from dialroom.call_status import CallStatus, claim_dial, current_status
from dialroom.calls import load_call_record, save_call_record
from dialroom.dial import OutboundCall
from dialroom.history import HistoryStore, open_history
from dispatcher.abandoned import DETAIL, SETTLE_S, RoomInUse, fail_abandoned, livekit_room_in_use
from dispatcher.archive import Archiver
from dispatcher.call_events import CallEventSource
from tests.support.dispatching import eventually, livekit
from tests.support.history import sqlite_url
from tests.support.room_guest import room_token
from tests.support.stack import RunningStack
from tests.support.statuses import walk
from worker.call_state import CallState

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


def rooms(*existing: str) -> RoomInUse:
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


@pytest.fixture
async def history(tmp_path: Path) -> AsyncIterator[HistoryStore]:
    found = await open_history(sqlite_url(tmp_path))
    yield found
    await found.close()


async def inbound_talking(store: Redis, call_id: str) -> CallState:
    """An inbound call in conversation, marked live by its worker as `worker.server` does."""
    state = CallState(
        call_id=call_id,
        persona="demo",
        direction="inbound",
        room=f"call-_+14155550123_{call_id}",
        caller_number="+14155550123",
        called_number="+14155550100",
        started_at=time.time() - 1,
        answered_at=time.time(),
    )
    await live_calls.begin(store, state, None)
    return state


async def test_an_inbound_call_whose_worker_and_room_are_gone_reaches_the_history(
    store: Redis, history: HistoryStore
) -> None:
    state = await inbound_talking(store, "in-lost-1")
    assert await live_calls.orphans(store, now=time.time() + LATER) == []  # left to the sweep

    assert await fail_abandoned(store, rooms(), now=time.time() + LATER) == 1

    record = await load_call_record(store, "in-lost-1")
    assert record is not None and record.outcome == "failed" and record.error == DETAIL
    assert record.direction == "inbound" and record.caller_number == state.caller_number
    assert record.started_at == state.started_at and record.answered_at == state.answered_at
    source = CallEventSource(store, url="http://127.0.0.1:9/events")
    archiver = Archiver(
        store, history, record_ttl_s=60, retention_days=90, on_archived=source.on_archived
    )
    assert await archiver.archive() == 1
    archived = await history.get("in-lost-1")
    assert archived is not None and archived.outcome == "failed" and archived.detail == DETAIL
    assert archived.direction == "inbound" and archived.called_number == "+14155550100"
    ended = await store.hget(EVENT_KEY.format(event_id="in-lost-1:ended"), "body")
    assert ended is not None and json.loads(ended)["outcome"] == "failed"
    assert await live_calls.load(store, "in-lost-1") is None  # off the live list
    assert await fail_abandoned(store, rooms(), now=time.time() + LATER) == 0  # once


async def test_an_inbound_call_still_served_or_in_its_room_goes_on(store: Redis) -> None:
    served = await inbound_talking(store, "in-live-1")
    await worker_lines.beat(store, "w1", free=0, rooms=[served.room])
    in_room = await inbound_talking(store, "in-live-2")
    assert await fail_abandoned(store, rooms(in_room.room), now=time.time() + LATER) == 0

    await worker_lines.beat(store, "w1", free=0, rooms=[])  # its worker stopped serving it...
    young = await inbound_talking(store, "in-live-3")  # ...and none has served this one yet
    assert await fail_abandoned(store, rooms()) == 0  # none is old enough yet
    for state in (served, in_room, young):
        assert await load_call_record(store, state.call_id) is None


async def test_an_inbound_call_whose_worker_wrote_its_record_keeps_it(store: Redis) -> None:
    state = await inbound_talking(store, "in-done-1")
    state.outcome = "caller_hung_up"
    await save_call_record(store, state.record())

    assert await fail_abandoned(store, rooms(), now=time.time() + LATER) == 0
    record = await load_call_record(store, "in-done-1")
    assert record is not None and record.outcome == "caller_hung_up"
    assert await live_calls.orphans(store, now=time.time() + LATER) == ["in-done-1"]


async def join(stack: RunningStack, room: str, identity: str, *, agent: bool) -> rtc.Room:
    """A participant in `room` of the real livekit-server: an agent, or anyone else."""
    joined = rtc.Room()
    await joined.connect(stack.state.livekit_url, room_token(room, identity, agent=agent))
    return joined


async def test_a_room_counts_as_in_use_only_with_someone_but_agents_in_it(
    stack: RunningStack,
) -> None:
    """Against the real livekit-server: an empty room is no proof a call goes on (a killed
    server's rooms stay listed), an agent alone is not either, a caller is."""
    room = "call-abandoned-in-use"
    async with livekit(stack) as lk:
        assert not await livekit_room_in_use(lk, room)  # never made
        await lk.room.create_room(api.CreateRoomRequest(name=room, empty_timeout=60))
        assert not await livekit_room_in_use(lk, room)  # listed, nobody in it
        agent = await join(stack, room, "agent-1", agent=True)
        try:
            await asyncio.sleep(0.5)  # the server stores the room's count as it changes
            assert not await livekit_room_in_use(lk, room)
            caller = await join(stack, room, "caller-1", agent=False)
            try:
                await eventually(lambda: livekit_room_in_use(lk, room), within_s=5)
            finally:
                await caller.disconnect()
        finally:
            await agent.disconnect()
            await lk.room.delete_room(api.DeleteRoomRequest(room=room))
