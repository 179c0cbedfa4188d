"""Delivering status webhooks: every status change, in order per call, signed, retried.

The call's status history in Redis (`dialroom.call_status`) is the outbox: a hash per call
keeps how many of its history entries were delivered (`sent`) and how many tries the next one
has had (`tries`). A sorted set holds the calls with something to deliver, scored by when
their next try is due. So nothing is copied, a dispatcher killed mid-delivery loses nothing
(the next one redoes the last try: receivers dedupe on `X-Dialroom-Event`), and a call's
events go out one at a time, oldest first.

Backoff, per event: a failed try (no answer, or not 2xx) is tried again after
`backoff_s * BACKOFF_FACTOR ** (tries - 1)` seconds (1, 2, 4, 8, ... with the defaults), up
to `max_attempts` tries; then the event is given up (logged) and the next one goes out.
After every try the event's receiver host, tries, answer and state go to the call's delivery
log (`dialroom.delivery_log`), which the console's call page shows.

Never blocking the dispatcher: `deliver_due` claims the calls that are due and starts one
task per call; a slow receiver holds only its own call's task. A claimed call's score is
pushed `LEASE_S` ahead (`dispatcher.leased_work`), so other dispatchers leave it alone.

Never held by a receiver: each POST has a total deadline (`POST_DEADLINE_S`, connect to last
byte: a receiver trickling its answer a byte at a time fails it like one that never answers),
and each receiver (scheme, host, port) gets at most `HOST_CONNECTIONS` POSTs at once, with no
cap across receivers, so a hundred slow receivers hold their own events and nobody else's.
Every connection goes through `dialroom.outbound_http`: no loopback, private or metadata
address unless allowed, no redirect followed, no proxy from the environment.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from redis.asyncio import Redis

from dialroom import delivery_log
from dialroom.call_status import HISTORY_KEY, WEBHOOK_STATE_KEY, StatusEvent
from dialroom.dial import DialRequest
from dialroom.dial_queue import load_request
from dialroom.metrics import WEBHOOK_FAILURES_KEY, count
from dialroom.outbound_http import OutboundPolicy, guarded_transport
from dialroom.webhooks import WebhookEvent, signed_headers
from dispatcher.leased_work import LEASE_S, LeasedWork

logger = logging.getLogger("dialroom.dispatcher.webhooks")

STATE_KEY = WEBHOOK_STATE_KEY
DUE = "dialroom:webhook:due"  # sorted set: call id -> when its next try is due
BACKOFF_FACTOR = 2
POST_DEADLINE_S = 10.0  # one POST, connect to the answer's last byte
HOST_CONNECTIONS = 4  # POSTs at once to one receiver
SLOT_WAIT_S = 30.0  # a POST waiting this long for its receiver's slot counts as a failed try
CALLBACK_URL = "callback_url"  # the `target` label of /metrics' webhook failures

# Marks a call due now if its history has entries not yet delivered (NX: a call already
# waiting keeps its backoff). KEYS: state, history, due. ARGV: call id, now.
_WAKE = """
local sent = tonumber(redis.call('HGET', KEYS[1], 'sent') or '0')
if redis.call('LLEN', KEYS[2]) > sent then
    return redis.call('ZADD', KEYS[3], 'NX', ARGV[2], ARGV[1])
end
return 0
"""

# Done with a call unless an entry arrived meanwhile. KEYS: state, history, due. ARGV: call id.
_FINISH = """
local sent = tonumber(redis.call('HGET', KEYS[1], 'sent') or '0')
if redis.call('LLEN', KEYS[2]) > sent then
    return 0
end
redis.call('ZREM', KEYS[3], ARGV[1])
return 1
"""


async def wake(redis: Redis, call_id: str) -> None:
    """Queue the call's undelivered status changes for delivery (no-op when none)."""
    await redis.eval(
        _WAKE,
        3,
        STATE_KEY.format(call_id=call_id),
        HISTORY_KEY.format(call_id=call_id),
        DUE,
        call_id,
        time.time(),
    )


async def count_failure(redis: Redis, target: str, *, given_up: bool) -> None:
    """One failed try (to be retried, or the last: the event is given up), for /metrics."""
    await count(redis, WEBHOOK_FAILURES_KEY, (target, "given_up" if given_up else "retried"))


def retry_delay(backoff_s: float, tries: int) -> float:
    """Seconds before try `tries + 1`, after `tries` failed ones."""
    return backoff_s * BACKOFF_FACTOR ** (tries - 1)


def webhook_client(policy: OutboundPolicy) -> httpx.AsyncClient:
    """The HTTP client webhooks go out on: guarded connections, no redirects, no proxy."""
    return httpx.AsyncClient(
        transport=guarded_transport(policy),
        timeout=POST_DEADLINE_S,
        follow_redirects=False,
        trust_env=False,
    )


class HostSlots:
    """At most `per_host` POSTs at once to each receiver; a receiver's entry lives while used."""

    def __init__(self, per_host: int) -> None:
        self.per_host = per_host
        self._slots: dict[str, tuple[asyncio.Semaphore, int]] = {}

    @asynccontextmanager
    async def slot(self, origin: str) -> AsyncIterator[None]:
        gate, users = self._slots.get(origin, (asyncio.Semaphore(self.per_host), 0))
        self._slots[origin] = (gate, users + 1)
        try:
            async with asyncio.timeout(SLOT_WAIT_S):
                await gate.acquire()
            try:
                yield
            finally:
                gate.release()
        finally:
            gate, users = self._slots[origin]
            if users == 1:
                del self._slots[origin]
            else:
                self._slots[origin] = (gate, users - 1)


class WebhookSender:
    def __init__(
        self,
        redis: Redis,
        http: httpx.AsyncClient,
        *,
        secret: str,
        max_attempts: int,
        backoff_s: float,
        deadline_s: float = POST_DEADLINE_S,
        per_host: int = HOST_CONNECTIONS,
    ) -> None:
        self.redis, self.http = redis, http
        self.secret, self.max_attempts, self.backoff_s = secret, max_attempts, backoff_s
        self.deadline_s = deadline_s
        self._hosts = HostSlots(per_host)
        self._finish = redis.register_script(_FINISH)
        self._due = LeasedWork(redis, DUE, self._deliver_call, what="webhooks of call")

    async def deliver_due(self, *, limit: int = 100) -> None:
        """Start delivering every call that is due; returns without waiting for them."""
        await self._due.start_due(limit=limit)

    async def drain(self) -> None:
        """Wait for the deliveries in progress (not for retries due later)."""
        await self._due.drain()

    async def _deliver_call(self, call_id: str) -> None:
        """Deliver the call's pending events in order; stop at the first that must wait."""
        request = await load_request(self.redis, call_id)
        state_key = STATE_KEY.format(call_id=call_id)
        history_key = HISTORY_KEY.format(call_id=call_id)
        while True:
            state = await self.redis.hgetall(state_key)
            sent, tries = (int(_field(state, name)) for name in ("sent", "tries"))
            raw = await self.redis.lindex(history_key, sent)
            if raw is None or request is None or not request.callback_url:
                if raw is not None:  # nowhere to send: mark everything so far as done
                    await self.redis.hset(state_key, "sent", await self.redis.llen(history_key))
                keys = [state_key, history_key, DUE]
                if await self._finish(keys=keys, args=[call_id]):
                    return
                continue
            await self.redis.zadd(DUE, {call_id: time.time() + LEASE_S}, xx=True)
            event = _event(request, sent + 1, StatusEvent.model_validate(json.loads(raw)))
            delivered, answer = await self._post(request.callback_url, event)
            tries += 1
            if delivered:
                await self.redis.hset(state_key, mapping={"sent": sent + 1, "tries": 0})
                await self._note(request.callback_url, event, tries, answer, "done")
                continue
            given_up = tries >= self.max_attempts
            await count_failure(self.redis, CALLBACK_URL, given_up=given_up)
            await self._note(
                request.callback_url, event, tries, answer, "given_up" if given_up else "pending"
            )
            if given_up:
                logger.error(
                    "webhook %s (%s) given up after %d tries",
                    event.event_id,
                    event.status.value,
                    tries,
                    extra={"call_id": call_id},
                )
                await self.redis.hset(state_key, mapping={"sent": sent + 1, "tries": 0})
                continue
            wait = retry_delay(self.backoff_s, tries)
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.hset(state_key, "tries", tries)
                pipe.zadd(DUE, {call_id: time.time() + wait})
                await pipe.execute()
            logger.warning(
                "webhook %s failed (try %d of %d); again in %gs",
                event.event_id,
                tries,
                self.max_attempts,
                wait,
                extra={"call_id": call_id},
            )
            return

    async def _note(
        self, url: str, event: WebhookEvent, tries: int, answer: str, state: delivery_log.State
    ) -> None:
        """The event's last try, for the console's call page (`dialroom.delivery_log`)."""
        entry = delivery_log.DeliveryTry(
            target=CALLBACK_URL,
            event=event.status.value,
            sequence=event.sequence,
            host=delivery_log.host_of(url),
            attempts=tries,
            answer=answer,
            state=state,
            at=time.time(),
        )
        mirror = HISTORY_KEY.format(call_id=event.call_id)  # expires when the call's keys do
        await delivery_log.note(self.redis, event.call_id, entry, mirror=mirror)

    async def _post(self, url: str, event: WebhookEvent) -> tuple[bool, str]:
        body = event.model_dump_json().encode()
        return await post_signed(
            self.http,
            self._hosts,
            url,
            body,
            secret=self.secret,
            event_id=event.event_id,
            deadline_s=self.deadline_s,
        )


async def post_signed(
    http: httpx.AsyncClient,
    hosts: HostSlots,
    url: str,
    body: bytes,
    *,
    secret: str,
    event_id: str,
    deadline_s: float,
) -> tuple[bool, str]:
    """POST `body` signed as `event_id` (status webhooks and call events alike): whether the
    receiver took it, and what it answered or what went wrong (for the delivery log)."""
    headers = signed_headers(secret, body, timestamp=int(time.time()), event_id=event_id)
    target = httpx.URL(url)
    try:
        async with hosts.slot(f"{target.scheme}://{target.host}:{target.port}"):
            async with asyncio.timeout(deadline_s):
                response = await http.post(url, content=body, headers=headers)
    except TimeoutError:
        logger.info("webhook %s: no answer within the deadline", event_id)
        return False, f"no answer within {deadline_s:g} s"
    except httpx.HTTPError as err:
        logger.info("webhook %s: %s: %s", event_id, type(err).__name__, err)
        return False, type(err).__name__
    return response.is_success, f"HTTP {response.status_code}"


def _event(request: DialRequest, sequence: int, status: StatusEvent) -> WebhookEvent:
    return WebhookEvent(
        call_id=request.call_id,
        persona=request.persona,
        sequence=sequence,
        **status.model_dump(),
    )


def _field(state: dict[bytes | str, bytes | str], name: str) -> str:
    value = state.get(name, state.get(name.encode(), b"0"))
    return value.decode() if isinstance(value, bytes) else value
