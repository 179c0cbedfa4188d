"""A call's webhook deliveries on its console page, from a real delivery: a call placed with a
`callback_url` whose receiver (real HTTP on 127.0.0.1) refuses the first status change until
it is given up and takes the second; the dispatcher's sender writes each try to the call's
delivery log (real Redis), and the page shows host, tries, last answer and state of each,
next to the call's `WEBHOOK_URL` events from their outbox, and no token of the URL."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest
from redis.asyncio import Redis

from api.console.call_view import call_page_context
from api.console.deliveries import Delivery, deliveries
from api.console.pages import templates
from api.models import CallDetail
from dialroom import delivery_log, dial_queue
from dialroom.call_events import EVENT_KEY
from dialroom.call_status import HISTORY_KEY, CallStatus
from dialroom.dial import OutboundCall
from dispatcher import webhooks
from dispatcher.webhooks import WebhookSender
from tests.support.statuses import walk
from tests.support.webhook_receiver import Receiver

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

TOKEN = "tok_s3cret"


async def delivered(store: Redis, http: httpx.AsyncClient, receiver: Receiver) -> str:
    """A call whose first status webhook was given up after 2 tries and whose second went out."""
    url = f"{receiver.base_url}/hook?token={TOKEN}"
    order = OutboundCall(to_number="+14155550123", persona="demo", callback_url=url)
    call_id = (await dial_queue.enqueue(store, order)).call_id
    await walk(store, call_id, CallStatus.DIALING, attempt=1)
    receiver.answers = [500, 503]
    await webhooks.wake(store, call_id)
    sender = WebhookSender(store, http, secret="whsec_console", max_attempts=2, backoff_s=0.05)
    deadline = time.monotonic() + 15
    while len(receiver.received) < 3:
        assert time.monotonic() < deadline, "not delivered in time"
        await sender.deliver_due()
        await asyncio.sleep(0.02)
    await sender.drain()
    return call_id


async def test_status_webhooks_show_host_tries_answer_and_state(
    store: Redis, http: httpx.AsyncClient, receiver: Receiver
) -> None:
    call_id = await delivered(store, http, receiver)
    started = EVENT_KEY.format(event_id=f"{call_id}:started")
    await store.hset(started, mapping={"state": "done", "tries": 1})  # as the outbox leaves it

    shown = await deliveries(store, call_id)

    host = receiver.base_url.removeprefix("http://")
    assert [(d.target, d.event, d.state, d.attempts, d.answer, d.host) for d in shown] == [
        ("WEBHOOK_URL", "call.started", "done", 2, None, None),
        ("callback_url", "#1 queued", "given_up", 2, "HTTP 503", host),
        ("callback_url", "#2 dialing", "done", 1, "HTTP 200", host),
    ]
    html = page(call_id, shown)
    assert '<code>#1 queued</code>: given up <span class="target">to callback_url' in html
    assert f"({host})</span>, 2 tries, last answer HTTP 503" in html
    assert "<code>#2 dialing</code>: done" in html and "1 try, last answer HTTP 200" in html
    assert "<code>call.started</code>: done" in html
    assert TOKEN not in html and "/hook" not in html


async def test_the_log_expires_with_the_calls_keys(
    store: Redis, http: httpx.AsyncClient, receiver: Receiver
) -> None:
    call_id = await delivered(store, http, receiver)
    log = delivery_log.LOG_KEY.format(call_id=call_id)
    assert 0 < await store.ttl(log) <= delivery_log.TTL_S  # the call is not archived yet
    await store.expire(HISTORY_KEY.format(call_id=call_id), 120)  # archived: let go
    await walk(store, call_id, CallStatus.NO_ANSWER, attempt=1)
    await webhooks.wake(store, call_id)
    sender = WebhookSender(store, http, secret="whsec_console", max_attempts=2, backoff_s=0.05)
    await sender.deliver_due()
    await sender.drain()

    assert len(receiver.received) == 4
    assert 0 < await store.ttl(log) <= 120


def page(call_id: str, shown: list[Delivery]) -> str:
    detail = CallDetail(
        call_id=call_id, persona="demo", attempts=1, max_attempts=1, updated_at=time.time()
    )
    context = {**call_page_context(detail), "webhooks": shown, "csrf": "t", "path": "/console"}
    return templates.get_template("call.html").render(**context)
