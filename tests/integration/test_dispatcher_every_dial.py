"""Rules that hold at every dial, against a real Redis and a real livekit-server (no workers):
the caps with two dispatchers on one queue, and calling hours for a retry."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from zoneinfo import ZoneInfo

import pytest
from redis.asyncio import Redis

from dialroom import campaign_intake, dial_queue
from dialroom.call_status import CallStatus, current_status
from dialroom.campaigns import CampaignSpec
from tests.integration.test_campaign_dispatch import calls_of
from tests.support.dispatching import (
    dispatched,
    dispatcher_running,
    eventually,
    is_,
    place,
    settings_for,
    status,
)
from tests.support.stack import RunningStack
from tests.support.statuses import walk

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


@pytest.mark.parametrize(
    ("caps", "most"),
    [
        ({"max_concurrent_calls": 2}, 2),
        ({"max_concurrent_calls": 100, "max_concurrent_per_trunk": 2}, 2),
    ],
    ids=["global", "per-trunk"],
)
async def test_two_dispatchers_together_never_exceed_the_caps(
    stack: RunningStack, redis_url: str, store: Redis, caps: dict[str, int], most: int
) -> None:
    calls = [await place(store) for _ in range(10)]
    # no take-over between the two (claim_idle_s): a LiveKit request slower than the test's
    # 0.2 s would let the other dispatcher dispatch the same attempt a second time (the
    # workers' dial gate still dials it once; tests/integration/test_redispatch.py)
    one, two = (
        settings_for(
            stack, redis_url, dispatcher_name=name, poll_interval_s=0.01, claim_idle_s=30.0, **caps
        )
        for name in ("one", "two")
    )
    seen, ended = 0, 0

    async def live() -> list[str]:
        found = [c for c in calls if await status(store, c) == CallStatus.DIALING]
        nonlocal seen
        seen = max(seen, len(found))
        assert len(found) <= most, f"{len(found)} calls live with a cap of {most}"
        return found

    async with dispatcher_running(one, store), dispatcher_running(two, store):
        while ended < len(calls):  # end the calls one at a time: each end frees one slot
            await eventually(partial(_filled, live, min(most, len(calls) - ended)))
            for _ in range(5):  # both dispatchers poll several times meanwhile
                await live()
                await asyncio.sleep(0.02)
            first = (await live())[0]
            await walk(store, first, CallStatus.ANSWERED, CallStatus.COMPLETED, attempt=1)
            ended += 1
        # the test walks a call on as soon as it is `dialing`: its dispatch request may still
        # be on its way to LiveKit (a loaded box); the count below is taken once it landed
        await eventually(partial(_all_dispatched, stack, calls))
    assert seen == most
    assert [len(await dispatched(stack, c)) for c in calls] == [1] * len(calls)


async def _all_dispatched(stack: RunningStack, calls: list[str]) -> bool:
    return all([await dispatched(stack, c) for c in calls])


async def _filled(live: Callable[[], Awaitable[list[str]]], count: int) -> bool:
    return len(await live()) == count


class Clock:
    """Real time, moved on by the test: what the dispatcher checks calling hours against."""

    def __init__(self) -> None:
        self.ahead = timedelta(0)

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.ahead


async def test_a_retry_due_after_the_campaign_window_waits_for_the_next_opening(
    stack: RunningStack, redis_url: str, store: Redis
) -> None:
    # Open now and for one more hour, every day, in the callee's zone (+1 415: Los Angeles).
    local = datetime.now(ZoneInfo("America/Los_Angeles")).replace(second=0, microsecond=0)
    opens, closes = local - timedelta(hours=1), local + timedelta(hours=1)
    every_day = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
    hours = {"days": every_day, "start": f"{opens:%H:%M}", "end": f"{closes:%H:%M}"}
    spec = CampaignSpec.model_validate(
        {
            "persona": "demo",
            "max_attempts": 2,
            "calling_hours": hours,
            "callees": [{"to_number": "+14155550101"}],
        }
    )
    [call_id] = await calls_of(
        store, (await campaign_intake.create(store, spec)).campaign.campaign_id
    )
    clock = Clock()
    settings = settings_for(stack, redis_url, retry_delay_s=0)
    async with dispatcher_running(settings, store, clock):
        await eventually(is_(store, call_id, CallStatus.DIALING))
        clock.ahead = timedelta(hours=2)  # the callee is busy; by the retry, the window closed
        await walk(store, call_id, CallStatus.BUSY, attempt=1, sip_code=486)

        async def held_for_the_window() -> bool:
            now = await current_status(store, call_id)
            return now is not None and "outside calling hours" in (now.detail or "")

        await eventually(held_for_the_window)
    now = await current_status(store, call_id)
    assert now is not None and (now.status, now.attempts) == (CallStatus.SCHEDULED, 2)
    next_opening = opens + timedelta(days=1)
    assert await store.zscore(dial_queue.SCHEDULED, call_id) == next_opening.timestamp()
    assert [r.attempt for r in await dispatched(stack, call_id)] == [1], "no dial out of hours"
