"""The dispatcher's loops: due calls into the queue, queued calls out to LiveKit, calls watched.

The dispatch loop takes queue entries one at a time (`dispatcher.entries` handles each); the
campaign feeder releases campaign calls into the queue; the status sweep follows dispatched
calls to their end (`dispatcher.watch`); the webhook loop starts deliveries, and the events loop
turns newly live calls into `call.started` and delivers call events (`dispatcher.call_events`,
`dispatcher.event_delivery`); the redispatch
loop dispatches again what no worker took; the archive loop moves finished calls into the
history (`dispatcher.archive`). Each runs under `dispatcher.health`: an exception
is logged, the loop backs off and goes on, and the health file says which loop is stuck.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

import aiohttp
from livekit import api
from redis.asyncio import Redis
from redis.exceptions import RedisError

from dialroom.outbound_http import OutboundPolicy
from dispatcher import webhooks
from dispatcher.abandoned import fail_abandoned, livekit_room_in_use
from dispatcher.archive import Archiver
from dispatcher.call_events import CallEventSource
from dispatcher.campaigns import feed_campaigns
from dispatcher.dispatch import TRANSIENT, DispatchRefused
from dispatcher.entries import EntryHandler
from dispatcher.event_delivery import EventSender
from dispatcher.health import REPORT_EVERY_S, Loops
from dispatcher.inbound import redispatch_inbound
from dispatcher.redispatch import redispatch_untaken
from dispatcher.settings import DispatcherSettings
from dispatcher.stream import DialStream
from dispatcher.watch import sweep

logger = logging.getLogger("dialroom.dispatcher")

REDISPATCH_EVERY_S = 2.0  # how often calls nobody took are looked for (a LiveKit request each)


def utc_now() -> datetime:
    return datetime.now(UTC)


class Dispatcher:
    def __init__(
        self,
        settings: DispatcherSettings,
        *,
        redis: Redis,
        clock: Callable[[], datetime] = utc_now,  # the instant calling hours are held to
        archiver: Archiver | None = None,  # finished calls into the history (`python -m`)
    ) -> None:
        self.settings = settings
        self.redis = redis
        self.archiver = archiver
        self.event_source = CallEventSource(redis, url=settings.webhook_url)
        self.stream = DialStream(
            redis, consumer=settings.consumer, claim_idle_ms=int(settings.claim_idle_s * 1000)
        )
        self.loops = Loops()
        self.entries = EntryHandler(
            settings,
            redis=redis,
            stream=self.stream,
            loops=self.loops,
            clock=clock,
            check_stop=self._check_stop,
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
            webhooks.webhook_client(OutboundPolicy.from_settings(self.settings)) as http,
        ):
            sender = webhooks.WebhookSender(
                self.redis,
                http,
                secret=self.settings.webhook_secret,
                max_attempts=self.settings.webhook_max_attempts,
                backoff_s=self.settings.webhook_backoff_s,
            )
            events = EventSender(
                self.redis,
                http,
                url=self.settings.webhook_url,
                secret=self.settings.webhook_secret,
                max_attempts=self.settings.webhook_max_attempts,
                backoff_s=self.settings.webhook_backoff_s,
            )
            self._log_ready()
            background = self._start_loops(lk, sender, events, burst=burst)
            try:
                await self._forever("dispatch", partial(self._dispatch_step, lk, burst=burst), 0)
                await sweep(self.redis, self.settings)
                await self._events_step(events)
                await sender.deliver_due()
                await asyncio.gather(sender.drain(), events.drain())
            finally:
                self._stopping.set()
                self.entries.in_flight.cancel()
                for task in background:
                    task.cancel()
                await asyncio.wait(background, timeout=5)

    def _log_ready(self) -> None:
        logger.info(
            "dispatcher ready: consumer=%s agent=%s max_concurrent_calls=%d per_trunk=%d",
            self.stream.consumer,
            self.settings.agent_name,
            self.settings.max_concurrent_calls,
            self.settings.max_concurrent_per_trunk,
        )
        if not self.settings.webhook_secret:
            logger.warning(
                "WEBHOOK_SECRET is not set: callback_url and WEBHOOK_URL requests go unsigned"
            )

    def _start_loops(
        self,
        lk: api.LiveKitAPI,
        sender: webhooks.WebhookSender,
        events: EventSender,
        *,
        burst: bool,
    ) -> list[asyncio.Task[None]]:
        """Every loop but the dispatch loop, each supervised (`dispatcher.health`)."""
        every = self.settings.poll_interval_s
        loops = {
            "sweep": (partial(sweep, self.redis, self.settings), every),
            "webhooks": (sender.deliver_due, every),  # starts deliveries; never waits for them
            "events": (partial(self._events_step, events), every),  # call.started / .ended
            "redispatch": (partial(self._redispatch, lk), REDISPATCH_EVERY_S),
        }
        if not burst:  # a burst feeds campaigns in its dispatch loop, so none is missed
            loops["campaigns"] = (partial(feed_campaigns, self.redis), every)
        if self.archiver is not None:
            loops["archive"] = (self.archiver.step, every)
        tasks = [
            asyncio.create_task(self._forever(name, step, every_s), name=f"dispatcher-{name}")
            for name, (step, every_s) in loops.items()
        ]
        if health := self.settings.dispatcher_health_file:
            tasks.append(asyncio.create_task(self._report_health(Path(health))))
        return tasks

    async def _forever(
        self, name: str, step: Callable[[], Awaitable[object]], every_s: float
    ) -> None:
        await self.loops.forever(name, step, every_s=every_s, stopping=self._stopping)

    async def _report_health(self, path: Path) -> None:
        while not self._stopping.is_set():
            try:
                await self.loops.write_health(path)
            except OSError as err:
                logger.warning("cannot write the health file %s: %s", path, err)
            await asyncio.sleep(REPORT_EVERY_S)

    async def _dispatch_step(self, lk: api.LiveKitAPI, *, burst: bool) -> bool:
        """One queue entry handled, or one empty poll; False when a burst has nothing due."""
        self._check_stop()
        try:
            await self.stream.promote_due()
            if burst:
                await feed_campaigns(self.redis)
            job = await self.stream.next_job(block_ms=self._block_ms())
        except RedisError:
            with contextlib.suppress(RedisError, OSError):
                await self.stream.ensure_group()  # a Redis that lost its data lost it too
            raise
        if job is None:
            if burst and self.entries.in_flight.busy:
                await self.entries.in_flight.drain()  # a failed one is pending again
                return True
            return not burst
        await self.entries.handle(lk, job)
        return True

    async def _events_step(self, events: EventSender) -> None:
        """Newly live calls into `call.started` events, then every due event on its way."""
        await self.event_source.step()
        await events.deliver_due()

    async def _redispatch(self, lk: api.LiveKitAPI) -> None:
        """Dispatch again what no worker took: outbound calls, then inbound ones; fail the
        calls a dead worker left (`dispatcher.abandoned`)."""
        steps: dict[str, Callable[[], Awaitable[int]]] = {
            "outbound calls no worker took": partial(
                redispatch_untaken, self.redis, lk, self.settings
            ),
            "inbound callers no worker took": partial(
                redispatch_inbound,
                self.redis,
                lk,
                agent_name=self.settings.agent_name,
                wait_s=self.settings.inbound_wait_s,
            ),
            "calls a dead worker left": partial(
                fail_abandoned, self.redis, partial(livekit_room_in_use, lk)
            ),
        }
        for what, step in steps.items():  # one failing does not stop the others
            try:
                await step()
            except (*TRANSIENT, api.TwirpError, DispatchRefused) as err:
                logger.warning("looking for %s failed (%s); later", what, err)

    def _block_ms(self) -> int:
        return max(1, int(self.settings.poll_interval_s * 1000))
