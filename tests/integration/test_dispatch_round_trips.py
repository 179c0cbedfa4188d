"""The dispatcher's per-call round trips on the queue's path (`bench/README.md`, the queue
stage of `post_to_invite`): the free-line count reads every live call inside the slot's one
script, not in two round trips per call, and a fresh attempt is dispatched in one request (a
first attempt's `CreateRoom` carrying the dispatch, a later one's `CreateAgentDispatch`; no
listing of the room's dispatches first), while a restarted one still looks (nothing
dispatched twice).

Redis is real; LiveKit is a mock specced on livekit-api's own service classes.
"""

from __future__ import annotations

from unittest.mock import AsyncMock, MagicMock

import pytest
from livekit import api
from redis.asyncio import Redis

from dialroom.call_status import CallStatus, claim_dial
from dialroom.dial import DialRequest
from dialroom.dial_queue import ACTIVE, load_request
from dialroom.worker_lines import BEATS, beat
from dispatcher.dispatch import dispatch_once
from dispatcher.slots import Slots
from tests.support.dispatching import place
from tests.support.statuses import walk

pytestmark = [pytest.mark.integration, pytest.mark.timeout(30)]


async def test_a_slot_needs_a_line_no_unclaimed_dispatched_call_will_take(store: Redis) -> None:
    """The free-line check inside the slot's one script: the live workers' free lines less
    the calls dispatched that no worker has claimed (each will take a line)."""
    unclaimed = [await place(store) for _ in range(25)]
    claimed, ringing, queued = await place(store), await place(store), await place(store)
    for call_id in [*unclaimed, claimed, ringing]:
        await walk(store, call_id, CallStatus.DIALING, attempt=1)
    await walk(store, ringing, CallStatus.RINGING, attempt=1)
    assert await claim_dial(store, claimed, 1)
    await store.sadd(ACTIVE, *unclaimed, claimed, ringing, queued, "gone-without-status")
    slots = Slots(store, max_calls=100, max_per_trunk=0, need_free_line=True)
    await beat(store, "gone", free=50, rooms=[])
    await store.zadd(BEATS, {"gone": 0})  # a worker whose heartbeat ran out: its lines are not

    await beat(store, "w1", free=25, rooms=[])
    assert not await slots.reserve(queued, "trunk"), "25 lines, 25 calls about to take them"
    assert await slots.reserve(unclaimed[0], "trunk"), "a call is not waiting for itself"
    await beat(store, "w1", free=26, rooms=[])
    assert await slots.reserve(queued, "trunk")
    await slots.release(queued)
    await store.delete(ACTIVE)
    await beat(store, "w1", free=1, rooms=[])
    assert await slots.reserve(await place(store), "trunk"), "nothing dispatched: a line is free"
    await beat(store, "w1", free=0, rooms=[])
    assert not await slots.reserve(await place(store), "trunk")

    caps_only = Slots(store, max_calls=100, max_per_trunk=0, need_free_line=False)
    assert await caps_only.reserve(await place(store), "trunk"), "WAIT_FOR_FREE_LINE off"


async def test_two_dispatchers_cannot_both_give_the_last_free_line_away(store: Redis) -> None:
    """A call one dispatcher reserved a slot for (still `queued`, about to move to `dialing`)
    takes a line too: another dispatcher finds none left."""
    first, second = await place(store), await place(store)
    one = Slots(store, max_calls=100, max_per_trunk=0, need_free_line=True)
    other = Slots(store, max_calls=100, max_per_trunk=0, need_free_line=True)
    await beat(store, "w1", free=1, rooms=[])

    assert await one.reserve(first, "trunk")
    assert not await other.reserve(second, "trunk"), "the only line is spoken for"
    await one.release(first)  # its move to `dialing` was refused (a cancel won)
    assert await other.reserve(second, "trunk")


def fake_livekit(dispatches: list[api.AgentDispatch]) -> MagicMock:
    lk = MagicMock(spec=api.LiveKitAPI)
    lk.room = AsyncMock(spec=api.room_service.RoomService)
    lk.agent_dispatch = AsyncMock(spec=api.agent_dispatch_service.AgentDispatchService)
    lk.agent_dispatch.list_dispatch.return_value = dispatches
    return lk


async def request_of(store: Redis) -> DialRequest:
    request = await load_request(store, await place(store))
    assert request is not None
    return request


async def test_a_fresh_first_attempt_is_one_room_carrying_its_dispatch(store: Redis) -> None:
    request = await request_of(store)
    lk = fake_livekit([])
    assert await dispatch_once(lk, request, agent_name="a", empty_timeout_s=60, fresh=True)
    lk.room.create_room.assert_awaited_once()
    created = lk.room.create_room.await_args.args[0]
    assert [(d.agent_name, d.metadata) for d in created.agents] == [
        ("a", request.dispatch_metadata())
    ]
    lk.agent_dispatch.list_dispatch.assert_not_awaited()
    lk.agent_dispatch.create_dispatch.assert_not_awaited()


async def test_a_fresh_later_attempt_skips_the_dispatch_listing(store: Redis) -> None:
    request = (await request_of(store)).model_copy(update={"attempt": 2})
    lk = fake_livekit([])
    assert await dispatch_once(lk, request, agent_name="a", empty_timeout_s=60, fresh=True)
    lk.room.create_room.assert_not_awaited()  # CreateAgentDispatch reuses or creates the room
    lk.agent_dispatch.list_dispatch.assert_not_awaited()
    lk.agent_dispatch.create_dispatch.assert_awaited_once()


async def test_a_held_attempt_already_dispatched_is_not_dispatched_again(store: Redis) -> None:
    request = await request_of(store)
    existing = api.AgentDispatch(
        agent_name="a", room=request.room_name, metadata=request.dispatch_metadata()
    )
    lk = fake_livekit([existing])
    assert not await dispatch_once(lk, request, agent_name="a", empty_timeout_s=60)
    lk.agent_dispatch.list_dispatch.assert_awaited_once()
    lk.agent_dispatch.create_dispatch.assert_not_awaited()


async def test_a_livekit_that_does_not_create_rooms_gets_the_room_first(store: Redis) -> None:
    """`room.auto_create` off: the dispatch is refused not_found, the room made, then sent."""
    request = (await request_of(store)).model_copy(update={"attempt": 2})
    lk = fake_livekit([])
    missing = api.TwirpError("not_found", "room not found", status=404)
    lk.agent_dispatch.create_dispatch.side_effect = [missing, api.AgentDispatch()]
    assert await dispatch_once(lk, request, agent_name="a", empty_timeout_s=60, fresh=True)
    lk.room.create_room.assert_awaited_once()
    assert lk.room.create_room.await_args.args[0].empty_timeout == 60
    assert lk.agent_dispatch.create_dispatch.await_count == 2
