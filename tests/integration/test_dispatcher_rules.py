"""The persona's outbound rules as the dispatcher applies them, against a real Redis and a real
livekit-server: the trunk its calls count against, its calling hours, its retry delay."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from redis.asyncio import Redis

from dialroom import dial_queue
from dialroom.call_status import (
    CallStatus,
    current_status,
    status_history,
)
from dialroom.dial import DialRequest
from dialroom.paths import ROOT
from dispatcher.service import Dispatcher
from dispatcher.watch import TRUNKS
from tests.support.dispatching import (
    dispatched,
    dispatcher_running,
    eventually,
    is_,
    place,
    settings_for,
    status,
    stream_empty,
)
from tests.support.stack import RunningStack
from tests.support.statuses import begin, walk

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


async def test_the_per_trunk_cap_holds_calls_back_in_order_and_counts_only_its_trunk(
    stack: RunningStack, redis_url: str, store: Redis, tmp_path: Path
) -> None:
    # A call live on another trunk takes no slot of this one.
    other = DialRequest(call_id="other-trunk-call", to_number="+14155550123", persona="demo")
    await store.set(dial_queue.REQUEST_KEY.format(call_id=other.call_id), other.model_dump_json())
    await begin(store, other.call_id, attempt=1)
    await walk(store, other.call_id, CallStatus.DIALING, CallStatus.ANSWERED, attempt=1)
    await store.sadd(dial_queue.ACTIVE, other.call_id)
    await store.hset(TRUNKS, other.call_id, "trunk-b")

    # The persona names its trunk; the dispatcher's own default is some other trunk.
    agents = persona_dir(tmp_path, "{trunk: trunk-a}")
    first, second, third, fourth = [await place(store) for _ in range(4)]
    settings = settings_for(
        stack,
        redis_url,
        sip_outbound_trunk="default-trunk",
        max_concurrent_per_trunk=2,
        agents_dir=agents,
    )
    async with dispatcher_running(settings, store):
        await eventually(is_(store, second, CallStatus.DIALING))
        await asyncio.sleep(0.3)  # several polls: the cap must hold
        assert await status(store, first) == CallStatus.DIALING
        assert [await status(store, c) for c in (third, fourth)] == [CallStatus.QUEUED] * 2
        assert await store.hget(TRUNKS, first) == "trunk-a"

        # a slot on trunk-a frees up:
        await walk(store, first, CallStatus.ANSWERED, CallStatus.COMPLETED, attempt=1)
        await eventually(is_(store, third, CallStatus.DIALING))
        await asyncio.sleep(0.3)
        assert await status(store, fourth) == CallStatus.QUEUED

        await walk(store, other.call_id, CallStatus.COMPLETED, attempt=1)  # frees nothing here
        await asyncio.sleep(0.3)
        assert await status(store, fourth) == CallStatus.QUEUED

        await walk(store, second, CallStatus.FAILED, attempt=1)
        await eventually(is_(store, fourth, CallStatus.DIALING))
        await eventually(lambda: stream_empty(store))  # all dispatched, none dropped


def persona_dir(tmp_path: Path, outbound: str) -> Path:
    """A copy of the demo persona with an `outbound:` section, in its own agents dir."""
    agents = tmp_path / "agents"
    agents.mkdir()
    demo = (ROOT / "agents" / "demo.yaml").read_text()
    (agents / "demo.yaml").write_text(f"{demo}\noutbound: {outbound}\n")
    return agents


async def test_a_call_outside_calling_hours_is_scheduled_for_the_window(
    stack: RunningStack, redis_url: str, store: Redis, tmp_path: Path
) -> None:
    # A window opening two hours from now in the callee's zone (+1 415: Los Angeles).
    opens = (datetime.now(ZoneInfo("America/Los_Angeles")) + timedelta(hours=2)).replace(
        second=0, microsecond=0
    )
    closes = opens + timedelta(hours=1)
    every_day = "[mon, tue, wed, thu, fri, sat, sun]"
    hours = f"{{start: '{opens:%H:%M}', end: '{closes:%H:%M}', days: {every_day}}}"
    agents = persona_dir(tmp_path, f"{{calling_hours: {hours}}}")
    later = await place(store)

    await Dispatcher(settings_for(stack, redis_url, agents_dir=agents), redis=store).run(burst=True)

    now = await current_status(store, later)
    assert now is not None and now.status == CallStatus.SCHEDULED
    assert "outside calling hours" in (now.detail or "")
    assert await store.zscore(dial_queue.SCHEDULED, later) == opens.timestamp()
    assert await dispatched(stack, later) == []
    assert await store.xlen(dial_queue.QUEUE_STREAM) == 0  # waiting in the schedule, not held


async def test_a_call_inside_calling_hours_is_dispatched(
    stack: RunningStack, redis_url: str, store: Redis, tmp_path: Path
) -> None:
    always = "{start: '00:00', end: '24:00', days: [mon, tue, wed, thu, fri, sat, sun]}"
    agents = persona_dir(tmp_path, f"{{calling_hours: {always}}}")
    call_id = await place(store)

    await Dispatcher(settings_for(stack, redis_url, agents_dir=agents), redis=store).run(burst=True)

    assert await status(store, call_id) == CallStatus.DIALING


async def test_a_number_with_no_safe_time_fails_instead_of_ringing(
    stack: RunningStack, redis_url: str, store: Redis, tmp_path: Path
) -> None:
    agents = persona_dir(tmp_path, "{calling_hours: {}}")  # mon-fri 09:00-18:00
    toll_free = await place(store, to_number="+18005550123")  # Guam to Samoa: never all open

    await Dispatcher(settings_for(stack, redis_url, agents_dir=agents), redis=store).run(burst=True)

    now = await current_status(store, toll_free)
    assert now is not None and now.status == CallStatus.FAILED
    assert "never open" in (now.detail or "")
    assert await dispatched(stack, toll_free) == []


async def test_the_personas_retry_delay_wins_over_the_dispatchers(
    stack: RunningStack, redis_url: str, store: Redis, tmp_path: Path
) -> None:
    agents = persona_dir(tmp_path, "{retry_delay_s: 0}")
    call_id = await place(store, max_attempts=2)
    settings = settings_for(stack, redis_url, agents_dir=agents, retry_delay_s=3600)
    async with dispatcher_running(settings, store):
        await eventually(is_(store, call_id, CallStatus.DIALING))
        await walk(store, call_id, CallStatus.NO_ANSWER, attempt=1, sip_code=480)

        async def second_attempt_dialing() -> bool:
            now = await current_status(store, call_id)
            return now is not None and (now.status, now.attempts) == (CallStatus.DIALING, 2)

        await eventually(second_attempt_dialing)  # not an hour later
    retried = [e for e in await status_history(store, call_id) if e.status == "scheduled"]
    assert [e.detail for e in retried] == ["attempt 2 of 2 in 0s"]
