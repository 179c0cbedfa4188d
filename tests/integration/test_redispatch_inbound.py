"""An inbound call no worker took is dispatched again once a worker has a free line, and
turned away with a busy signal once it has waited `INBOUND_WAIT_S` with none: a real SIP phone
calls the real livekit-sip and livekit-server of a stack with no workers, so the dispatch
livekit-server makes from the SIP dispatch rule gets no job, exactly what happens when a call
arrives while every worker is restarting or draining."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from livekit import api
from redis.asyncio import Redis

from callcheck.phone import start_dialing
from dialroom.calls import CALLS_BY_END, load_call_record
from dialroom.worker_lines import beat
from dispatcher.inbound import GRACE_S, INBOUND_PREFIX, NO_WORKER, redispatch_inbound
from tests.support.dispatching import AGENT, eventually, livekit
from tests.support.stack import RunningStack, start_stack

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

WAIT_S = 8.0  # the stack's INBOUND_WAIT_S: its dispatcher ends a call no worker took this long
PHONE_TIMEOUT_S = 60.0  # the phone's own give-up, far beyond WAIT_S
CALLER = "+15550001234"
ENDED = "no worker took it within"  # the dispatcher's warning when it ends a call
MARGIN_S = 6.0  # the dispatcher looks every 2 s; SIP and a loaded machine take the rest


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    # No workers; the stack's dispatcher runs with a short bound on an inbound call's wait.
    env = {"WAIT_FOR_FREE_LINE": "false", "INBOUND_WAIT_S": str(WAIT_S)}
    running = start_stack(tmp_path_factory.mktemp("inbound"), num_agents=0, env=env)
    yield running
    running.stop()


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
    # `store` is not the stack's Redis: the stack's dispatcher sees no free line there, so
    # only this test dispatches again; it ends the call only after WAIT_S.
    with start_dialing(stack.state.sip_uri, result_dir=tmp_path, timeout=PHONE_TIMEOUT_S):
        async with livekit(stack) as lk:
            room: list[str] = []

            async def ringing() -> bool:
                name = await inbound_room(lk)
                room[:] = [name] if name else []
                return bool(room) and len(await our_dispatches(lk, room[0])) == 1

            await eventually(ringing, within_s=30)
            first = await our_dispatches(lk, room[0])
            later = time.time() + GRACE_S + 1
            bound = {"agent_name": AGENT, "wait_s": 60.0}  # well within its wait
            assert await redispatch_inbound(store, lk, **bound) == 0, "too young"
            assert await redispatch_inbound(store, lk, **bound, now=later) == 0, (
                "no worker has a free line: nothing to gain from dispatching again"
            )
            assert await our_dispatches(lk, room[0]) == first

            await beat(store, "a-worker-back", free=1, rooms=[])  # a worker registers
            assert await redispatch_inbound(store, lk, **bound, now=later) == 1
            second = await our_dispatches(lk, room[0])
            assert len(second) == 1 and second != first, "replaced, not doubled"
            assert await inbound_room(lk) == room[0], "a call a worker can take is not ended"


async def test_an_inbound_call_no_worker_takes_hears_busy_after_the_bound(
    stack: RunningStack, tmp_path: Path
) -> None:
    phone = start_dialing(
        stack.state.sip_uri, result_dir=tmp_path, timeout=PHONE_TIMEOUT_S, from_user=CALLER
    )
    with phone:
        call = phone.result(timeout=PHONE_TIMEOUT_S + 30).call

    assert call.status_code == 486, f"{call.status_code} {call.reason}"
    assert not call.connected
    assert call.invite_sent_at is not None and call.disconnected_at is not None
    rang_s = call.disconnected_at - call.invite_sent_at
    assert WAIT_S <= rang_s < WAIT_S + MARGIN_S, f"rang {rang_s:.1f} s"

    stack_redis = Redis.from_url(stack.state.redis_url, decode_responses=True)
    try:
        ended = await stack_redis.zrange(CALLS_BY_END, 0, -1)
        records = [await load_call_record(stack_redis, call_id) for call_id in ended]
    finally:
        await stack_redis.aclose()
    mine = [r for r in records if r is not None and r.started_at >= call.invite_sent_at - 1]
    assert [(r.outcome, r.direction) for r in mine] == [(NO_WORKER, "inbound")]
    ended_lines = [line for line in stack.log("dispatcher").splitlines() if ENDED in line]
    assert ended_lines and not any(CALLER[-7:] in line for line in ended_lines)
