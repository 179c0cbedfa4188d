"""The call-status machine on a real Redis: every move is a compare-and-set on (status,
attempt) against the table, so late writers, stale attempts and moves the table does not
allow change nothing, and a call canceled before its dial still gets its webhooks."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import httpx
import pytest
from aiohttp import web
from redis.asyncio import Redis

from dialroom import dial_queue, dnc
from dialroom.call_status import (
    ALLOWED,
    NEXT_ATTEMPT,
    STATUS_COUNTS_KEY,
    CallStatus,
    current_status,
    status_history,
    transition,
)
from dialroom.dial import DialRequest, OutboundCall
from dispatcher.settings import DispatcherSettings
from dispatcher.watch import sweep
from dispatcher.webhooks import WebhookSender
from tests.support.statuses import walk

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

# How a call reaches each status from `queued`, the way dispatcher and worker move it.
PATHS: dict[CallStatus, tuple[CallStatus, ...]] = {
    CallStatus.QUEUED: (),
    CallStatus.SCHEDULED: (CallStatus.SCHEDULED,),
    CallStatus.DIALING: (CallStatus.DIALING,),
    CallStatus.RINGING: (CallStatus.DIALING, CallStatus.RINGING),
    CallStatus.ANSWERED: (CallStatus.DIALING, CallStatus.ANSWERED),
    CallStatus.COMPLETED: (CallStatus.DIALING, CallStatus.ANSWERED, CallStatus.COMPLETED),
    CallStatus.BUSY: (CallStatus.DIALING, CallStatus.BUSY),
    CallStatus.NO_ANSWER: (CallStatus.DIALING, CallStatus.NO_ANSWER),
    CallStatus.REJECTED: (CallStatus.DIALING, CallStatus.REJECTED),
    CallStatus.FAILED: (CallStatus.FAILED,),
    CallStatus.CANCELED: (CallStatus.CANCELED,),
}


async def place(store: Redis, **changes: object) -> str:
    order = OutboundCall.model_validate({"to_number": "+14155550123", "persona": "demo", **changes})
    return (await dial_queue.enqueue(store, order)).call_id


async def retried(store: Redis, first_end: CallStatus, *, delay_s: float) -> str:
    """A call whose attempt 1 ended `first_end` (busy / no-answer), its retry scheduled the
    way the dispatcher's sweep does it: attempt 2, `delay_s` from now."""
    call_id = await place(store, max_attempts=2)
    await walk(store, call_id, CallStatus.DIALING, first_end, attempt=1)
    request = await dial_queue.load_request(store, call_id)
    assert request is not None
    assert (await dial_queue.schedule_retry(store, request, delay_s=delay_s)).moved
    return call_id


async def counted(store: Redis, status: CallStatus) -> int:
    return int(await store.hget(STATUS_COUNTS_KEY, status.value) or 0)


async def test_each_move_happens_exactly_when_the_table_allows_it(store: Redis) -> None:
    assert set(PATHS) == set(CallStatus)
    for before in CallStatus:
        for after in CallStatus:
            call_id = await place(store)
            await walk(store, call_id, *PATHS[before], attempt=1)
            moved = await transition(store, call_id, after, attempt=1)
            assert moved.moved == (after in ALLOWED[before]), f"{before} -> {after}"
            now = await current_status(store, call_id)
            assert now is not None
            assert now.status == (after if moved.moved else before)
            assert now.attempts == (2 if moved.moved and before in NEXT_ATTEMPT else 1)


async def test_a_final_status_is_not_overwritten_by_a_late_writer(store: Redis) -> None:
    call_id = await place(store)
    await walk(store, call_id, CallStatus.DIALING, CallStatus.ANSWERED, attempt=1)
    # The sweep gives up on the call; then the worker reports the end it saw.
    await walk(store, call_id, CallStatus.FAILED, attempt=1, detail="no end of call reported")
    completed_before = await counted(store, CallStatus.COMPLETED)

    late = await transition(store, call_id, CallStatus.COMPLETED, attempt=1)

    assert not late.moved
    assert late.before is not None and late.before.status == CallStatus.FAILED
    now = await current_status(store, call_id)
    assert now is not None and now.status == CallStatus.FAILED
    assert now.detail == "no end of call reported"
    history = [e.status for e in await status_history(store, call_id)]
    assert history == ["queued", "dialing", "answered", "failed"]
    assert await counted(store, CallStatus.COMPLETED) == completed_before


async def test_a_stale_attempt_cannot_write(store: Redis) -> None:
    call_id = await retried(store, CallStatus.BUSY, delay_s=60)

    # A worker still finishing attempt 1 reports a failure; attempt 2 is what stands.
    stale = await transition(store, call_id, CallStatus.FAILED, attempt=1, detail="late")

    assert not stale.moved
    now = await current_status(store, call_id)
    assert now is not None and (now.status, now.attempts) == (CallStatus.SCHEDULED, 2)
    assert [(e.status, e.attempt) for e in await status_history(store, call_id)] == [
        ("queued", 1),
        ("dialing", 1),
        ("busy", 1),
        ("scheduled", 2),
    ]


async def test_a_failed_retry_is_reported_as_its_own_attempt(store: Redis) -> None:
    call_id = await retried(store, CallStatus.NO_ANSWER, delay_s=0)

    await walk(store, call_id, CallStatus.DIALING, CallStatus.FAILED, attempt=2, sip_code=503)

    last = (await status_history(store, call_id))[-1]
    assert (last.status, last.attempt, last.sip_code) == ("failed", 2, 503)


async def test_of_two_racing_ends_exactly_one_is_written(redis_url: str, store: Redis) -> None:
    call_id = await place(store)
    await walk(store, call_id, CallStatus.DIALING, CallStatus.ANSWERED, attempt=1)
    worker, sweeper = (Redis.from_url(redis_url, decode_responses=True) for _ in range(2))
    try:
        outcomes = await asyncio.gather(
            *(
                transition(client, call_id, status, attempt=1)
                for _ in range(20)
                for client, status in ((worker, CallStatus.COMPLETED), (sweeper, CallStatus.FAILED))
            )
        )
    finally:
        await worker.aclose()
        await sweeper.aclose()
    assert sum(outcome.moved for outcome in outcomes) == 1
    history = [e.status for e in await status_history(store, call_id)]
    assert history[:3] == ["queued", "dialing", "answered"] and len(history) == 4


async def test_a_scheduled_retry_can_be_canceled(store: Redis) -> None:
    call_id = await retried(store, CallStatus.BUSY, delay_s=60)

    canceled = await dial_queue.cancel(store, call_id)

    assert canceled.moved
    now = await current_status(store, call_id)
    assert now is not None and (now.status, now.attempts) == (CallStatus.CANCELED, 2)
    assert await store.zscore(dial_queue.SCHEDULED, call_id) is None


@pytest.fixture
async def hook() -> AsyncIterator[tuple[str, list[dict[str, object]]]]:
    """A webhook receiver on loopback: its URL and the events it got."""
    got: list[dict[str, object]] = []

    async def receive(request: web.Request) -> web.Response:
        got.append(json.loads(await request.read()))
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/hook", receive)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    yield f"http://{host}:{port}/hook", got
    await runner.cleanup()


async def sweep_and_deliver(store: Redis, redis_url: str) -> None:
    """One pass of the dispatcher's watch loop: the sweep, then the webhooks it woke."""
    await sweep(store, DispatcherSettings(redis_url=redis_url))
    async with httpx.AsyncClient(timeout=5) as http:
        sender = WebhookSender(store, http, secret="s", max_attempts=3, backoff_s=0.05)
        await sender.deliver_due()
        await sender.drain()


@pytest.mark.parametrize("schedule_at", [None, "2099-01-01T09:00:00Z"])
async def test_a_call_canceled_before_dialing_gets_its_webhooks(
    store: Redis,
    redis_url: str,
    hook: tuple[str, list[dict[str, object]]],
    schedule_at: str | None,
) -> None:
    url, got = hook
    call_id = await place(store, callback_url=url, schedule_at=schedule_at)

    assert (await dial_queue.cancel(store, call_id)).moved
    await sweep_and_deliver(store, redis_url)

    assert [(e["call_id"], e["status"]) for e in got] == [
        (call_id, "scheduled" if schedule_at else "queued"),
        (call_id, "canceled"),
    ]
    assert not await store.sismember(dial_queue.ACTIVE, call_id)  # reported once, then let go


async def test_a_call_canceled_for_the_do_not_call_list_gets_its_webhooks(
    store: Redis, redis_url: str, hook: tuple[str, list[dict[str, object]]]
) -> None:
    url, got = hook
    call_id = await place(store, callback_url=url)
    request = await dial_queue.load_request(store, call_id)
    assert isinstance(request, DialRequest)
    await dnc.add(store, request.to_number, source="test")

    assert await dnc.cancel_if_listed(store, request)  # the dispatcher's last check
    await sweep_and_deliver(store, redis_url)

    assert [e["status"] for e in got] == ["queued", "canceled"]
