"""The dispatcher's loops: due calls into the queue, queued calls out to LiveKit, calls watched.

For each queue entry, in order: skip it if the call was canceled or has moved on; wait for a
free slot under `max_concurrent_calls` and, per outbound trunk, `max_concurrent_per_trunk`
(holding the entry, so later calls wait behind it); outside the persona's calling hours, put
it back in the schedule for the window's opening (`dispatcher.rules`); else move the status
to `dialing` (compare-and-set); create the room and the agent dispatch (once, see
`dispatch.dispatch_once`); acknowledge. `dialing` is written before the dispatch so that
the worker's own statuses, which come after it, are never overwritten.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

import aiohttp
import httpx
from livekit import api
from redis.asyncio import Redis
from redis.asyncio.client import Pipeline
from redis.exceptions import RedisError

from dialroom import dnc
from dialroom.call_status import CallStatus, current_status, transition
from dialroom.dial import DialRequest
from dialroom.dial_queue import ACTIVE, CANCELABLE, SCHEDULED
from dialroom.metrics import observe_dial_latency
from dialroom.redact import mask_number
from dialroom.worker_lines import free_lines
from dispatcher import webhooks
from dispatcher.campaigns import feed_campaigns
from dispatcher.dispatch import TRANSIENT, DispatchRefused, dispatch_once
from dispatcher.redispatch import redispatch_untaken
from dispatcher.rules import Closed, closed_now, rules_for
from dispatcher.settings import DispatcherSettings
from dispatcher.stream import DialStream, Job
from dispatcher.watch import TRUNKS, live_calls, sweep

logger = logging.getLogger("dialroom.dispatcher")

BACKOFF_S = (0.5, 1, 2, 5, 10, 30)  # between tries of a dispatch LiveKit could not take
REDIS_PAUSE_S = 2.0  # before trying again when Redis does not answer
REDISPATCH_EVERY_S = 2.0  # how often calls nobody took are looked for (a LiveKit request each)


class Dispatcher:
    def __init__(self, settings: DispatcherSettings, *, redis: Redis) -> None:
        self.settings = settings
        self.redis = redis
        self.stream = DialStream(
            redis, consumer=settings.consumer, claim_idle_ms=int(settings.claim_idle_s * 1000)
        )
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def stop(self) -> None:
        """Stop now (SIGTERM): the step in progress is abandoned, which the queue makes safe.

        Every loop also checks a flag, because a cancellation that lands inside a Redis
        command can be swallowed by the client library.
        """
        self._stopping.set()
        if self._task is not None:
            self._task.cancel()

    def _check_stop(self) -> None:
        if self._stopping.is_set():
            raise asyncio.CancelledError

    async def run(self, *, burst: bool = False) -> None:
        """Dispatch until `stop`; with `burst`, until nothing is due, then return (tests)."""
        self._task = asyncio.current_task()
        await self.stream.ensure_group()
        async with (
            api.LiveKitAPI(
                url=self.settings.livekit_url,
                api_key=self.settings.livekit_api_key,
                api_secret=self.settings.livekit_api_secret,
                timeout=aiohttp.ClientTimeout(total=10),
            ) as lk,
            httpx.AsyncClient(timeout=webhooks.POST_TIMEOUT_S) as http,
        ):
            sender = webhooks.WebhookSender(
                self.redis,
                http,
                secret=self.settings.webhook_secret,
                max_attempts=self.settings.webhook_max_attempts,
                backoff_s=self.settings.webhook_backoff_s,
            )
            logger.info(
                "dispatcher ready: consumer=%s agent=%s max_concurrent_calls=%d per_trunk=%d",
                self.stream.consumer,
                self.settings.agent_name,
                self.settings.max_concurrent_calls,
                self.settings.max_concurrent_per_trunk,
            )
            if not self.settings.webhook_secret:
                logger.warning("WEBHOOK_SECRET is not set: callback_url requests go unsigned")
            watching = asyncio.create_task(self._watch(lk, sender))
            try:
                await self._dispatch_loop(lk, burst=burst)
                await sweep(self.redis, self.settings)
                await sender.deliver_due()
                await sender.drain()
            finally:
                self._stopping.set()
                watching.cancel()
                await asyncio.wait([watching], timeout=5)

    async def _dispatch_loop(self, lk: api.LiveKitAPI, *, burst: bool) -> None:
        while True:
            self._check_stop()
            try:
                await self.stream.promote_due()
                await feed_campaigns(self.redis)  # campaign calls, as their slots free up
                job = await self.stream.next_job(block_ms=self._block_ms())
                if job is not None:
                    await self._handle(lk, job)  # a Redis error leaves it pending: redone
                elif burst:
                    return
            except (RedisError, OSError) as err:
                await self._redis_trouble(err)
                with contextlib.suppress(RedisError, OSError):
                    await self.stream.ensure_group()  # a Redis that lost its data lost it too

    async def _watch(self, lk: api.LiveKitAPI, sender: webhooks.WebhookSender) -> None:
        health = self.settings.dispatcher_health_file
        alive = Path(health) if health else None
        next_redispatch = 0.0
        while not self._stopping.is_set():
            try:
                await sweep(self.redis, self.settings)
                await sender.deliver_due()  # starts the deliveries; never waits for them
                if time.monotonic() >= next_redispatch:
                    next_redispatch = time.monotonic() + REDISPATCH_EVERY_S
                    await self._redispatch(lk)
            except (RedisError, OSError) as err:
                await self._redis_trouble(err)
            else:
                if alive is not None:
                    await asyncio.to_thread(alive.touch)  # healthy: swept, Redis answered
            await asyncio.sleep(self.settings.poll_interval_s)

    async def _redispatch(self, lk: api.LiveKitAPI) -> None:
        try:
            await redispatch_untaken(self.redis, lk, self.settings)
        except (*TRANSIENT, api.TwirpError, DispatchRefused) as err:
            logger.warning("looking for untaken dispatches failed (%s); later", err)

    async def _redis_trouble(self, err: Exception) -> None:
        logger.warning("Redis unavailable (%s); again in %gs", err, REDIS_PAUSE_S)
        await asyncio.sleep(REDIS_PAUSE_S)

    def _block_ms(self) -> int:
        return max(1, int(self.settings.poll_interval_s * 1000))

    async def _handle(self, lk: api.LiveKitAPI, job: Job) -> None:
        if await self._take_slot(job):
            await self._dispatch_and_report(lk, job)
        await self.stream.ack(job)

    async def _take_slot(self, job: Job) -> bool:
        """Wait, in queue order, for a slot under the cap, then move the call to `dialing`.

        False when there is nothing to do: the call was canceled, or has moved on.
        """
        request = job.request
        # Read once, as the call reaches the head of the queue, not on every poll of the wait:
        # it reads the persona file.
        rules = await rules_for(self.redis, request, self.settings)
        while True:
            self._check_stop()
            now = await current_status(self.redis, request.call_id)
            if (
                now is None
                or now.attempts != request.attempt
                or now.status not in {*CANCELABLE, CallStatus.DIALING}
            ):
                was = now.status.value if now else "unknown"
                logger.info("call %s skipped: it is %s", request.call_id, was)
                return False
            if now.status == CallStatus.DIALING:
                return True  # a restart after a crash: the call already holds its slot
            if await dnc.cancel_if_listed(self.redis, request):
                return False  # listed after it was queued: canceled, never dialed
            if await self._slot_free(request.call_id, rules.trunk):
                closed = closed_now(rules.calling_hours, request.to_number, datetime.now(UTC))
                if closed is not None:
                    await self._hold_until_open(request, closed)
                    return False
                moved = await transition(
                    self.redis,
                    request.call_id,
                    CallStatus.DIALING,
                    expect=CANCELABLE,
                    expect_attempt=request.attempt,
                    detail=f"dispatched to agent {self.settings.agent_name}",
                    also=partial(_mark_live, request.call_id, rules.trunk),
                )
                if moved.moved:
                    return True
                continue  # it changed meanwhile (a cancel): look again
            await self.stream.keep(job)
            await asyncio.sleep(self.settings.poll_interval_s)

    async def _slot_free(self, call_id: str, trunk: str) -> bool:
        """Below `max_concurrent_calls` overall and `max_concurrent_per_trunk` on the trunk
        this call goes out on (its persona's `outbound.trunk`, else SIP_OUTBOUND_TRUNK), and
        some worker has a free line: a call dispatched while every line is taken would only
        wait in `dialing` for one (and fail after `dial_timeout_s`) instead of in the queue."""
        live = await live_calls(self.redis, besides=call_id)
        per_trunk = self.settings.max_concurrent_per_trunk
        under_caps = live.per_trunk.total() < self.settings.max_concurrent_calls and (
            per_trunk == 0 or live.per_trunk[trunk] < per_trunk
        )
        if not under_caps or not self.settings.wait_for_free_line:
            return under_caps
        return await free_lines(self.redis) - live.untaken > 0

    async def _hold_until_open(self, request: DialRequest, closed: Closed) -> None:
        """Out of calling hours: back into the schedule for the opening, or failed when the
        number has no safe time at all."""
        call_id = request.call_id
        if closed.opens_at is None:
            status, also = CallStatus.FAILED, None
        else:
            due = closed.opens_at.timestamp()
            status, also = CallStatus.SCHEDULED, lambda pipe: pipe.zadd(SCHEDULED, {call_id: due})
        moved = await transition(
            self.redis,
            call_id,
            status,
            expect=CANCELABLE,
            expect_attempt=request.attempt,
            detail=closed.why,
            also=also,
        )
        if moved.moved:
            logger.info("call %s %s: %s", call_id, status.value, closed.why)
            if request.callback_url:
                await webhooks.wake(self.redis, call_id)

    async def _dispatch_and_report(self, lk: api.LiveKitAPI, job: Job) -> None:
        request = job.request
        fields = {"call_id": request.call_id, "persona": request.persona}
        try:
            created = await self._dispatch(lk, job)
        except DispatchRefused as err:
            await transition(
                self.redis,
                request.call_id,
                CallStatus.FAILED,
                expect={CallStatus.DIALING},
                expect_attempt=request.attempt,
                detail=str(err),
            )
            logger.error("call %s failed: %s", request.call_id, err, extra=fields)
            return
        if created is None:
            logger.info("call %s stopped waiting for LiveKit", request.call_id, extra=fields)
        elif created:
            await observe_dial_latency(self.redis, max(0.0, time.time() - job.due_at))
            logger.info(
                "call %s dispatched: attempt %d to %s",
                request.call_id,
                request.attempt,
                mask_number(request.to_number),
                extra=fields,
            )
        else:
            logger.info("call %s was already dispatched; not again", request.call_id, extra=fields)

    async def _dispatch(self, lk: api.LiveKitAPI, job: Job) -> bool | None:
        """`dispatch_once`, tried again with backoff while LiveKit is unreachable or 5xx.

        None when the call stopped waiting meanwhile (the sweep failed it after
        `dial_timeout_s`): there is nothing left to dispatch.
        """
        request = job.request
        tries = 0
        while True:
            self._check_stop()
            try:
                return await dispatch_once(
                    lk,
                    request,
                    agent_name=self.settings.agent_name,
                    empty_timeout_s=self.settings.room_empty_timeout_s,
                )
            except (*TRANSIENT, api.TwirpError) as err:
                wait = BACKOFF_S[min(tries, len(BACKOFF_S) - 1)]
                tries += 1
                logger.warning(
                    "dispatch of call %s failed (%s), try %d; again in %gs",
                    request.call_id,
                    type(err).__name__,
                    tries,
                    wait,
                    extra={"call_id": request.call_id},
                )
            await self.stream.keep(job)
            await asyncio.sleep(wait)
            status = await current_status(self.redis, request.call_id)
            if status is None or status.status != CallStatus.DIALING:
                return None


def _mark_live(call_id: str, trunk: str, pipe: Pipeline) -> None:
    """With the move to `dialing`: the call is live, and counts against its trunk."""
    pipe.sadd(ACTIVE, call_id)
    pipe.hset(TRUNKS, call_id, trunk)
