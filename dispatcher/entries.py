"""One queue entry, handled: from the head of the queue to an agent dispatch, or an end.

In order: skip the entry if the call was canceled or has moved on; outside the persona's or
the campaign's calling hours, put the call back in the schedule for the windows' opening
(`dispatcher.rules`; checked at every dial: a first attempt, a retry, a call that waited for
a slot); wait for a slot under the caps (`dispatcher.slots`: reserved atomically, however
many dispatchers run), holding the entry so later calls wait behind it; move the status to
`dialing` (compare-and-set); create the room and the agent dispatch (once, see
`dispatch.dispatch_once`); acknowledge. `dialing` is written before the dispatch so that the
worker's own statuses, which come after it, are never overwritten.

A fault stays with its entry: handling that raises (a persona file that cannot be decoded, a
bug) is tried `MAX_TRIES` times, counted in Redis, then the call is failed with the reason
and the entry leaves the queue, so the calls behind it go on.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import datetime
from enum import Enum
from functools import partial

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
from dispatcher import webhooks
from dispatcher.call_metrics import observe_queue_wait
from dispatcher.dispatch import TRANSIENT, DispatchRefused, dispatch_once
from dispatcher.health import Loops, backoff_s
from dispatcher.in_flight import InFlight
from dispatcher.rules import CallRules, Closed, closed_now, rules_for
from dispatcher.settings import DispatcherSettings
from dispatcher.slots import Slots, mark_live
from dispatcher.stream import DialStream, Job

logger = logging.getLogger("dialroom.dispatcher")

# Between tries of a dispatch LiveKit could not take; with a try's own 10 s, under the 30 s
# after which the dispatch loop counts as stuck (`dispatcher.health`).
BACKOFF_S = (0.5, 1, 2, 5, 10, 15)
MAX_TRIES = 3  # tries of a queue entry whose handling raises, before its call fails
# A dispatched call's log line, with the dispatcher's two parts of its time (read back by
# `bench.post_to_invite`)
DISPATCHED_LOG = "call %s dispatched: attempt %d to %s (to dialing %.0f ms, LiveKit %.0f ms)"


class Taken(Enum):
    """What `_take_slot` found: nothing to dispatch, or a slot, and whose move took it."""

    NOTHING = "nothing"  # canceled, moved on, or back in the schedule
    MOVED = "moved"  # this handler moved the call to `dialing` just now: a fresh dispatch
    HELD = "held"  # it was `dialing` already (a restart, a retry): look before dispatching


class EntryHandler:
    def __init__(
        self,
        settings: DispatcherSettings,
        *,
        redis: Redis,
        stream: DialStream,
        loops: Loops,
        clock: Callable[[], datetime],
        check_stop: Callable[[], None],
    ) -> None:
        self.settings, self.redis, self.stream = settings, redis, stream
        self.loops, self.clock, self.check_stop = loops, clock, check_stop
        self.slots = Slots(
            redis,
            max_calls=settings.max_concurrent_calls,
            max_per_trunk=settings.max_concurrent_per_trunk,
            need_free_line=settings.wait_for_free_line,
        )
        self.in_flight = InFlight(limit=settings.dispatch_concurrency, ids=stream.in_flight)

    async def handle(self, lk: api.LiveKitAPI, job: Job) -> None:
        """The entry's slot taken in queue order, then its dispatch handed to `in_flight`,
        with a fault of this entry kept to this entry.

        A Redis error is Redis' fault, not the entry's: it propagates (in a dispatch task, it
        is logged), and the entry stays pending, to be done again. Anything else counts as a
        failed try of the entry.
        """
        started = time.monotonic()
        try:
            taken = await self._take_slot(job)
        except RedisError:
            raise
        except Exception as err:
            await self._entry_failed(job, err)
            return
        if taken is Taken.NOTHING:
            await self.stream.ack(job)
            return
        fresh = taken is Taken.MOVED
        to_dialing_s = time.monotonic() - started
        work = self._dispatch_entry(lk, job, fresh=fresh, to_dialing_s=to_dialing_s)
        await self.in_flight.run(job.entry_id, work)

    async def _dispatch_entry(
        self, lk: api.LiveKitAPI, job: Job, *, fresh: bool, to_dialing_s: float
    ) -> None:
        try:
            await self._dispatch_and_report(lk, job, fresh=fresh, to_dialing_s=to_dialing_s)
            await self.stream.ack(job)
        except RedisError:
            if self.in_flight.inline:
                raise
            logger.warning("call %s: Redis failed mid-dispatch; again", job.request.call_id)
        except Exception as err:
            await self._entry_failed(job, err)

    async def _entry_failed(self, job: Job, err: Exception) -> None:
        request = job.request
        tries = await self.stream.failed(job)
        fields = {"call_id": request.call_id, "persona": request.persona}
        if tries < MAX_TRIES:
            wait = backoff_s(tries)
            logger.warning(
                "call %s: handling its queue entry failed (try %d of %d); again in %gs",
                request.call_id,
                tries,
                MAX_TRIES,
                wait,
                exc_info=err,
                extra=fields,
            )
            await asyncio.sleep(wait)  # it stays pending: the next read takes it first
            return
        why = f"the dispatcher could not handle the call ({tries} tries): {type(err).__name__}"
        why = f"{why}: {err}"[:500]
        await self.slots.release(request.call_id)
        moved = await transition(
            self.redis,
            request.call_id,
            CallStatus.FAILED,
            attempt=request.attempt,
            detail=why,
            also=partial(_follow_end, request),
        )
        logger.error("call %s failed: %s", request.call_id, why, exc_info=err, extra=fields)
        if moved.moved and request.callback_url:
            await webhooks.wake(self.redis, request.call_id)
        await self.stream.ack(job)

    async def _take_slot(self, job: Job) -> Taken:
        """Wait, in queue order, for a slot under the caps, then move the call to `dialing`.

        NOTHING when there is nothing to do: the call was canceled, has moved on, or waits in
        the schedule for its calling hours.
        """
        request = job.request
        # Read once, as the call reaches the head of the queue, not on every poll of the wait:
        # it reads the persona file.
        rules = await rules_for(self.redis, request, self.settings)
        waited = False
        while True:
            self.check_stop()
            self.loops.beat("dispatch")  # waiting for a slot is not being stuck
            now = await current_status(self.redis, request.call_id)
            if (
                now is None
                or now.attempts != request.attempt
                or now.status not in {*CANCELABLE, CallStatus.DIALING}
            ):
                was = now.status.value if now else "unknown"
                logger.info("call %s skipped: it is %s", request.call_id, was)
                return Taken.NOTHING
            if now.status == CallStatus.DIALING:
                return Taken.HELD  # a restart after a crash: the call already holds its slot
            if await dnc.cancel_if_listed(self.redis, request):
                return Taken.NOTHING  # listed after it was queued: canceled, never dialed
            closed = closed_now(rules.calling_hours, request.to_number, self.clock())
            if closed is not None:
                await self._hold_until_open(request, closed)
                return Taken.NOTHING
            # A worker's free line (with `wait_for_free_line`: dispatched without one, the
            # call would wait in `dialing` and fail after `dial_timeout_s`, not in the queue)
            # and a slot under the caps on its trunk (persona's `outbound.trunk`, else
            # SIP_OUTBOUND_TRUNK), in one step.
            if await self.slots.reserve(request.call_id, rules.trunk):
                if await self._move_to_dialing(request, rules):
                    return Taken.MOVED
                continue  # it changed meanwhile (a cancel): look again
            if not waited:
                waited = True
                logger.info("call %s waits for a free line or slot", request.call_id)
            await self.stream.keep(job)
            await asyncio.sleep(self.settings.poll_interval_s)

    async def _move_to_dialing(self, request: DialRequest, rules: CallRules) -> bool:
        moved = await transition(
            self.redis,
            request.call_id,
            CallStatus.DIALING,
            expect=CANCELABLE,
            attempt=request.attempt,
            detail=f"dispatched to agent {self.settings.agent_name}",
            also=partial(mark_live, request.call_id, rules.trunk),
        )
        if not moved.moved:
            await self.slots.release(request.call_id)
        return moved.moved

    async def _hold_until_open(self, request: DialRequest, closed: Closed) -> None:
        """Out of calling hours: back into the schedule for the opening, or failed when the
        number has no safe time at all (a single call and a campaign's alike)."""
        call_id = request.call_id
        if closed.opens_at is None:
            status, also = CallStatus.FAILED, partial(_follow_end, request)
        else:
            due = closed.opens_at.timestamp()
            status, also = CallStatus.SCHEDULED, lambda pipe: pipe.zadd(SCHEDULED, {call_id: due})
        moved = await transition(
            self.redis,
            call_id,
            status,
            expect=CANCELABLE,
            attempt=request.attempt,
            detail=closed.why,
            also=also,
        )
        if moved.moved:
            logger.info("call %s %s: %s", call_id, status.value, closed.why)
            if request.callback_url:
                await webhooks.wake(self.redis, call_id)

    async def _dispatch_and_report(
        self, lk: api.LiveKitAPI, job: Job, *, fresh: bool, to_dialing_s: float
    ) -> None:
        """Dispatch the entry and log it, with the two parts of the dispatcher's own time:
        from the head of the queue to `dialing` (`to_dialing_s`: the checks, the slot, the
        move, and any wait for a line), and its LiveKit requests."""
        request = job.request
        fields = {"call_id": request.call_id, "persona": request.persona}
        started = time.monotonic()
        try:
            created = await self._dispatch(lk, job, fresh=fresh)
        except DispatchRefused as err:
            await transition(
                self.redis,
                request.call_id,
                CallStatus.FAILED,
                expect={CallStatus.DIALING},
                attempt=request.attempt,
                detail=str(err),
            )
            logger.error("call %s failed: %s", request.call_id, err, extra=fields)
            return
        if created is None:
            logger.info("call %s stopped waiting for LiveKit", request.call_id, extra=fields)
        elif created:
            await observe_dial_latency(self.redis, max(0.0, time.time() - job.due_at))
            await observe_queue_wait(self.redis, request, due_at=job.due_at)
            logger.info(
                DISPATCHED_LOG,
                request.call_id,
                request.attempt,
                mask_number(request.to_number),
                to_dialing_s * 1000,
                (time.monotonic() - started) * 1000,
                extra=fields,
            )
        else:
            logger.info("call %s was already dispatched; not again", request.call_id, extra=fields)

    async def _dispatch(self, lk: api.LiveKitAPI, job: Job, *, fresh: bool) -> bool | None:
        """`dispatch_once`, tried again with backoff while LiveKit is unreachable or 5xx.

        None when the call stopped waiting meanwhile (the sweep failed it after
        `dial_timeout_s`): there is nothing left to dispatch. Only the first try can be
        `fresh`: a failed request may still have reached LiveKit.
        """
        request = job.request
        tries = 0
        while True:
            self.check_stop()
            try:
                return await dispatch_once(
                    lk,
                    request,
                    agent_name=self.settings.agent_name,
                    empty_timeout_s=self.settings.room_empty_timeout_s,
                    fresh=fresh and tries == 0,
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
            self.loops.beat("dispatch")  # waiting for LiveKit is not being stuck
            await asyncio.sleep(wait)
            status = await current_status(self.redis, request.call_id)
            if status is None or status.status != CallStatus.DIALING:
                return None


def _follow_end(request: DialRequest, pipe: Pipeline) -> None:
    """With the end of a call that was never dispatched: the sweep follows it, to report the
    end and deliver its webhooks, as it does a cancel's (`dial_queue.cancel_attempt`)."""
    if request.callback_url:
        pipe.sadd(ACTIVE, request.call_id)
