"""Delivering call events to WEBHOOK_URL: signed, at least once, retried with backoff.

Each event in the outbox (`dispatcher.call_events`) is delivered on its own: claimed with a
lease (other dispatchers leave it alone; a dispatcher killed mid-POST leaves it to be claimed
again once the lease runs out, and the receiver dedupes on `X-Dialroom-Event`), POSTed with the
same signature, deadline, per-receiver cap and address guard as status webhooks
(`dispatcher.webhooks`), and retried after `backoff_s * 2 ** (tries - 1)` seconds up to
`max_attempts` tries. One order is kept: a call's `call.ended` waits while its `call.started`
is still being tried. Every failed try is counted for /metrics, and so is every event given up.

Never blocking calls: this runs in the dispatcher's own loop, one task per event, and nothing
a call does waits for it.
"""

from __future__ import annotations

import logging
import time

import httpx
from redis.asyncio import Redis

from dialroom import delivery_log
from dialroom.call_events import ENDED, EVENT_KEY, STARTED, event_id
from dialroom.calls import CALL_KEY
from dispatcher.call_events import DONE, DONE_TTL_S, DUE, GIVEN_UP, PENDING
from dispatcher.leased_work import LeasedWork
from dispatcher.webhooks import (
    HOST_CONNECTIONS,
    POST_DEADLINE_S,
    HostSlots,
    count_failure,
    post_signed,
    retry_delay,
)

logger = logging.getLogger("dialroom.dispatcher.events")

WEBHOOK_URL = "webhook_url"  # the `target` label of /metrics' webhook failures
ORDER_WAIT_S = 0.5  # a call.ended whose call.started is still being tried looks again after


class EventSender:
    def __init__(
        self,
        redis: Redis,
        http: httpx.AsyncClient,
        *,
        url: str,
        secret: str,
        max_attempts: int,
        backoff_s: float,
        deadline_s: float = POST_DEADLINE_S,
        per_host: int = HOST_CONNECTIONS,
    ) -> None:
        self.redis, self.http, self.url = redis, http, url
        self.secret, self.max_attempts, self.backoff_s = secret, max_attempts, backoff_s
        self.deadline_s = deadline_s
        self._hosts = HostSlots(per_host)
        self._due = LeasedWork(redis, DUE, self._deliver_event, what="call event")

    async def deliver_due(self, *, limit: int = 100) -> None:
        """Start delivering every event that is due; returns without waiting for them."""
        await self._due.start_due(limit=limit)

    async def drain(self) -> None:
        """Wait for the deliveries in progress (not for retries due later)."""
        await self._due.drain()

    async def _deliver_event(self, name: str) -> None:
        key = EVENT_KEY.format(event_id=name)
        state = {_text(k): _text(v) for k, v in (await self.redis.hgetall(key)).items()}
        if state.get("state") != PENDING or not self.url:
            if not self.url:
                logger.warning("call event %s dropped: WEBHOOK_URL is not set", name)
            await self.redis.zrem(DUE, name)
            return
        if await self._started_pending(name):
            await self.redis.zadd(DUE, {name: time.time() + ORDER_WAIT_S})
            return
        body = state["body"].encode()
        delivered, answer = await self._post(name, body)
        tries = int(state.get("tries", 0)) + 1
        if delivered:
            await self._close(key, name, DONE)
            await self._note(name, tries, answer, "done")
            return
        given_up = tries >= self.max_attempts
        await count_failure(self.redis, WEBHOOK_URL, given_up=given_up)
        await self._note(name, tries, answer, "given_up" if given_up else "pending")
        if given_up:
            logger.error("call event %s given up after %d tries", name, tries)
            await self._close(key, name, GIVEN_UP)
            return
        wait = retry_delay(self.backoff_s, tries)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(key, "tries", tries)
            pipe.zadd(DUE, {name: time.time() + wait})
            await pipe.execute()
        logger.warning(
            "call event %s failed (try %d of %d); again in %gs",
            name,
            tries,
            self.max_attempts,
            wait,
        )

    async def _started_pending(self, name: str) -> bool:
        """Whether `name` is a call.ended whose call's call.started is still being tried (in
        flight, or waiting for its retry: its score is a lease or a backoff, so the ended
        event looks again shortly rather than at that score)."""
        call_id, _, kind = name.rpartition(":")
        if f"call.{kind}" != ENDED:
            return False
        started = EVENT_KEY.format(event_id=event_id(call_id, STARTED))
        return _text(await self.redis.hget(started, "state")) == PENDING

    async def _close(self, key: str, name: str, state: str) -> None:
        """Delivered or given up: the body goes; the id stays a day so it is not queued again."""
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(key, "state", state)
            pipe.hdel(key, "body")
            pipe.expire(key, DONE_TTL_S)
            pipe.zrem(DUE, name)
            await pipe.execute()

    async def _post(self, name: str, body: bytes) -> tuple[bool, str]:
        return await post_signed(
            self.http,
            self._hosts,
            self.url,
            body,
            secret=self.secret,
            event_id=name,
            deadline_s=self.deadline_s,
        )

    async def _note(self, name: str, tries: int, answer: str, state: delivery_log.State) -> None:
        """The event's last try, for the console's call page (`dialroom.delivery_log`)."""
        call_id, _, kind = name.rpartition(":")
        entry = delivery_log.DeliveryTry(
            target="webhook_url",
            event=f"call.{kind}",
            host=delivery_log.host_of(self.url),
            attempts=tries,
            answer=answer,
            state=state,
            at=time.time(),
        )
        mirror = CALL_KEY.format(call_id=call_id)  # expires when the call's keys do
        await delivery_log.note(self.redis, call_id, entry, mirror=mirror)


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
