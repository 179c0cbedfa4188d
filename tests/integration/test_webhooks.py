"""Status webhooks against a real HTTP receiver on 127.0.0.1 and a real Redis: signed, every
status change in order per call, retried with backoff, a slow receiver holding up nobody."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable

import httpx
import pytest
from redis.asyncio import Redis

from dialroom import dial_queue
from dialroom.call_status import CallStatus
from dialroom.dial import OutboundCall
from dispatcher import webhooks
from dispatcher.webhooks import WebhookSender
from tests.support.statuses import walk
from tests.support.webhook_receiver import Delivery, Receiver, verifies

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

SECRET = "whsec_integration"


def sender_for(store: Redis, http: httpx.AsyncClient, **changes: object) -> WebhookSender:
    options: dict[str, object] = {"secret": SECRET, "max_attempts": 5, "backoff_s": 0.05}
    options.update(changes)
    return WebhookSender(store, http, **options)  # type: ignore[arg-type]


async def place(store: Redis, url: str) -> str:
    order = OutboundCall(to_number="+14155550123", persona="demo", callback_url=url)
    return (await dial_queue.enqueue(store, order)).call_id  # history: queued


async def deliver_until(
    sender: WebhookSender, done: Callable[[], bool], within_s: float = 15
) -> None:
    """Run the delivery loop the way the dispatcher does, until `done`."""
    deadline = time.monotonic() + within_s
    while not done():
        assert time.monotonic() < deadline, "not delivered in time"
        await sender.deliver_due()
        await asyncio.sleep(0.02)
    await sender.drain()


async def test_every_status_change_is_posted_signed_and_in_order(
    store: Redis, http: httpx.AsyncClient, receiver: Receiver
) -> None:
    call_id = await place(store, f"{receiver.base_url}/hook")
    for status in (CallStatus.DIALING, CallStatus.RINGING, CallStatus.ANSWERED):
        await walk(store, call_id, status, attempt=1)
    await walk(store, call_id, CallStatus.COMPLETED, attempt=1)
    await webhooks.wake(store, call_id)

    await deliver_until(sender_for(store, http), lambda: len(receiver.received) == 5)

    assert receiver.ids() == [f"{call_id}:{n}" for n in range(1, 6)]
    events = [json.loads(d.body) for d in receiver.received]
    statuses = [e["status"] for e in events]
    assert statuses == ["queued", "dialing", "ringing", "answered", "completed"]
    assert [e["sequence"] for e in events] == [1, 2, 3, 4, 5]
    assert all(e["call_id"] == call_id and e["persona"] == "demo" for e in events)
    assert all(verifies(d, SECRET) for d in receiver.received)


async def test_a_wrong_secret_fails_verification(
    store: Redis, http: httpx.AsyncClient, receiver: Receiver
) -> None:
    call_id = await place(store, f"{receiver.base_url}/hook")
    await webhooks.wake(store, call_id)
    await deliver_until(sender_for(store, http), lambda: len(receiver.received) == 1)
    [delivery] = receiver.received
    assert verifies(delivery, SECRET)
    assert not verifies(delivery, "not-the-secret")
    tampered = Delivery(delivery.path, delivery.headers, delivery.body.replace(b"demo", b"evil"))
    assert not verifies(tampered, SECRET)


async def test_a_receiver_failing_twice_gets_the_event_on_the_third_try(
    store: Redis, http: httpx.AsyncClient, receiver: Receiver
) -> None:
    call_id = await place(store, f"{receiver.base_url}/hook")
    await walk(store, call_id, CallStatus.DIALING, attempt=1)
    receiver.answers = [500, 500]
    await webhooks.wake(store, call_id)

    await deliver_until(sender_for(store, http), lambda: len(receiver.received) == 4)

    first, second = f"{call_id}:1", f"{call_id}:2"
    assert receiver.ids() == [first, first, first, second]  # the next waits for the first
    assert all(verifies(d, SECRET) for d in receiver.received)
    assert await store.zscore(webhooks.DUE, call_id) is None  # nothing left to deliver


async def test_an_event_is_given_up_after_max_attempts_and_the_next_follows(
    store: Redis, http: httpx.AsyncClient, receiver: Receiver
) -> None:
    call_id = await place(store, f"{receiver.base_url}/hook")
    await walk(store, call_id, CallStatus.DIALING, attempt=1)
    receiver.answers = [503, 503, 503]
    await webhooks.wake(store, call_id)

    sender = sender_for(store, http, max_attempts=3)
    await deliver_until(sender, lambda: len(receiver.received) == 4)

    assert receiver.ids() == [f"{call_id}:1"] * 3 + [f"{call_id}:2"]


async def test_a_retry_survives_a_restarted_dispatcher(
    store: Redis, http: httpx.AsyncClient, receiver: Receiver
) -> None:
    call_id = await place(store, f"{receiver.base_url}/hook")
    receiver.answers = [500]
    await webhooks.wake(store, call_id)
    await deliver_until(sender_for(store, http), lambda: len(receiver.received) == 1)

    # A new sender (the dispatcher restarted) finds the pending try in Redis.
    await deliver_until(sender_for(store, http), lambda: len(receiver.received) == 2)
    assert receiver.ids() == [f"{call_id}:1"] * 2


async def test_a_slow_receiver_holds_up_no_other_call(
    store: Redis, http: httpx.AsyncClient, receiver: Receiver
) -> None:
    receiver.hold["/slow"] = asyncio.Event()
    slow = await place(store, f"{receiver.base_url}/slow")
    fast = await place(store, f"{receiver.base_url}/fast")
    await walk(store, fast, CallStatus.DIALING, attempt=1)
    for call_id in (slow, fast):
        await webhooks.wake(store, call_id)
    sender = sender_for(store, http)
    deadline = time.monotonic() + 15
    while len(receiver.ids("/fast")) < 2:  # both of the fast call's events, while slow waits
        assert time.monotonic() < deadline, "the fast call's events were held up"
        await sender.deliver_due()
        await asyncio.sleep(0.02)
    assert receiver.ids("/slow") == []

    receiver.hold["/slow"].set()
    await deliver_until(sender, lambda: len(receiver.ids("/slow")) == 1)
    assert receiver.ids("/slow") == [f"{slow}:1"]
