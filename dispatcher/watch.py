"""Following dispatched calls to their end: retries, calls that got stuck, callbacks.

The worker writes each call's statuses; the dispatcher keeps the ids it dispatched in the
`active` set and sweeps them every `poll_interval_s`. Why the dispatcher and not the worker:
it already owns the queue and the schedule, and a retry written as one compare-and-set
transaction (status busy -> scheduled, attempt n -> n+1, into the schedule) happens exactly
once however many dispatchers sweep, and is never lost when one is killed: the busy status
stays in Redis until a sweep acts on it.

- busy / no-answer, attempts left: the next attempt is scheduled `retry_delay_s` from now.
  The persona's `outbound.retry_delay_s` wins over the dispatcher's (`dispatcher.rules`).
- any other end (completed, rejected, failed, or no attempts left): the call leaves `active`.
- a call with a `callback_url` has each new status change queued for delivery on every sweep
  (`dispatcher.webhooks`: signed, in order, retried).
- dialing or ringing with no update for `dial_timeout_s`, or answered with no end for
  `answered_timeout_s` (a worker that died mid-call): failed. Before failing a call nobody
  dialed, the dispatcher takes the worker's dial gate itself, so a worker that picks the
  dispatch up later can no longer dial it.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from dataclasses import dataclass, field

from redis.asyncio import Redis

from dialroom.call_status import (
    TERMINAL,
    CallStatus,
    CurrentStatus,
    claim_dial,
    current_status,
    dial_claimed,
    transition,
)
from dialroom.dial import DialRequest
from dialroom.dial_queue import ACTIVE, active_calls, load_request, schedule_retry
from dispatcher import webhooks
from dispatcher.rules import rules_for
from dispatcher.settings import DispatcherSettings

logger = logging.getLogger("dialroom.dispatcher")

RETRYABLE = frozenset({CallStatus.BUSY, CallStatus.NO_ANSWER})
LIVE = frozenset({CallStatus.DIALING, CallStatus.RINGING, CallStatus.ANSWERED})
TRUNKS = "dialroom:dial:trunk"  # hash: call id -> the outbound trunk it was dispatched for


@dataclass
class LiveCalls:
    """Calls dialing, ringing or answered now: what the caps and the free lines are held to."""

    per_trunk: Counter[str] = field(default_factory=Counter)  # `.total()` for all trunks
    untaken: int = 0  # dispatched, and no worker has started to dial: each will take a line


async def live_calls(redis: Redis, *, besides: str | None = None) -> LiveCalls:
    live = LiveCalls()
    for call_id in await active_calls(redis):
        status = await current_status(redis, call_id) if call_id != besides else None
        if status is None or status.status not in LIVE:
            continue
        trunk = await redis.hget(TRUNKS, call_id) or ""
        live.per_trunk[trunk.decode() if isinstance(trunk, bytes) else trunk] += 1
        if status.status == CallStatus.DIALING:
            live.untaken += not await dial_claimed(redis, call_id, status.attempts)
    return live


async def sweep(redis: Redis, settings: DispatcherSettings) -> None:
    now = time.time()
    for call_id in await active_calls(redis):
        status = await current_status(redis, call_id)
        request = await load_request(redis, call_id)
        if status is None or request is None:
            await redis.srem(ACTIVE, call_id)
            continue
        if status.status in LIVE:
            await _fail_if_stuck(redis, settings, call_id, status, now)
        elif status.status in TERMINAL:
            await _after_end(redis, settings, request, status)
        if request.callback_url:
            await webhooks.wake(redis, call_id)  # after the retry / end: their statuses too


async def _after_end(
    redis: Redis,
    settings: DispatcherSettings,
    request: DialRequest,
    status: CurrentStatus,
) -> None:
    call_id = request.call_id
    if (
        status.status in RETRYABLE
        and status.attempts == request.attempt
        and request.attempt < request.max_attempts
    ):
        delay = (await rules_for(redis, request, settings)).retry_delay_s
        moved = await schedule_retry(redis, request, delay_s=delay)
        if moved.moved:
            logger.info(
                "call %s was %s; attempt %d in %gs",
                call_id,
                status.status.value,
                request.attempt + 1,
                delay,
                extra={"call_id": call_id, "persona": request.persona},
            )
        return
    if await redis.srem(ACTIVE, call_id):  # the first sweep to see the end reports it
        await redis.hdel(TRUNKS, call_id)
        logger.info(
            "call %s finished: %s after %d attempt(s)",
            call_id,
            status.status.value,
            status.attempts,
            extra={"call_id": call_id, "persona": request.persona},
        )


async def _fail_if_stuck(
    redis: Redis, settings: DispatcherSettings, call_id: str, status: CurrentStatus, now: float
) -> None:
    answered = status.status == CallStatus.ANSWERED
    limit = settings.answered_timeout_s if answered else settings.dial_timeout_s
    if now - status.updated_at <= limit:
        return
    if answered:
        why = f"no end of call reported within {limit:g}s"
    elif await claim_dial(redis, call_id, status.attempts):
        why = f"no worker took the call within {limit:g}s"
    else:
        why = f"the worker reported no answer within {limit:g}s"
    moved = await transition(
        redis,
        call_id,
        CallStatus.FAILED,
        expect={status.status},
        expect_attempt=status.attempts,
        detail=why,
    )
    if moved.moved:
        logger.warning("call %s failed: %s", call_id, why, extra={"call_id": call_id})
