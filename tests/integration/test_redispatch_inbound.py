"""An inbound call no worker took is dispatched again once a worker has a free line: a real
SIP phone calls the real livekit-sip and livekit-server of a stack with no workers, so the
dispatch livekit-server makes from the SIP dispatch rule gets no job, exactly what happens
when a call arrives while every worker is restarting or draining."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from livekit import api
from redis.asyncio import Redis

from dialroom.worker_lines import beat
from dispatcher.inbound import GRACE_S, INBOUND_PREFIX, redispatch_inbound
from tests.support.dispatching import AGENT, eventually, livekit
from tests.support.phone import start_dialing
from tests.support.stack import RunningStack

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


async def inbound_room(lk: api.LiveKitAPI) -> str | None:
    rooms = (await lk.room.list_rooms(api.ListRoomsRequest())).rooms
    found = [r.name for r in rooms if r.name.startswith(INBOUND_PREFIX) and r.num_participants]
    return found[0] if found else None


async def our_dispatches(lk: api.LiveKitAPI, room: str) -> list[str]:
    return [
        d.id for d in await lk.agent_dispatch.list_dispatch(room_name=room) if d.agent_name == AGENT
    ]


async def test_an_untaken_inbound_call_is_dispatched_again_once_a_worker_is_free(
    stack: RunningStack, store: Redis, tmp_path: Path
) -> None:
    with start_dialing(stack.state.sip_uri, result_dir=tmp_path, timeout=60):
        async with livekit(stack) as lk:
            room: list[str] = []

            async def ringing() -> bool:
                name = await inbound_room(lk)
                room[:] = [name] if name else []
                return bool(room) and len(await our_dispatches(lk, room[0])) == 1

            await eventually(ringing, within_s=30)
            first = await our_dispatches(lk, room[0])
            later = time.time() + GRACE_S + 1
            assert await redispatch_inbound(store, lk, agent_name=AGENT) == 0, "too young"
            assert await redispatch_inbound(store, lk, agent_name=AGENT, now=later) == 0, (
                "no worker has a free line: nothing to gain from dispatching again"
            )
            assert await our_dispatches(lk, room[0]) == first

            await beat(store, "a-worker-back", free=1, rooms=[])  # a worker registers
            assert await redispatch_inbound(store, lk, agent_name=AGENT, now=later) == 1
            second = await our_dispatches(lk, room[0])
            assert len(second) == 1 and second != first, "replaced, not doubled"
