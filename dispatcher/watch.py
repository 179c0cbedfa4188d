"""Following dispatched calls to their end: retries, calls that got stuck, callbacks.

The worker writes each call's statuses; the dispatcher keeps the ids it dispatched in the
`active` set and sweeps them every `poll_interval_s`. Why the dispatcher and not the worker:
it already owns the queue and the schedule, and a retry written as one compare-and-set
transaction (status busy -> scheduled, attempt n -> n+1, into the schedule) happens exactly
once however many dispatchers sweep, and is never lost when one is killed: the busy status
stays in Redis until a sweep acts on it.

- busy / no-answer, attempts left: the next attempt is scheduled `retry_delay_s` from now.
- any other end (completed, rejected, failed, or no attempts left): the call leaves `active`
  and, if it has a `callback_url`, the final status is POSTed there (once, best effort).
- dialing or ringing with no update for `dial_timeout_s`, or answered with no end for
  `answered_timeout_s` (a worker that died mid-call): failed. Before failing a call nobody
  dialed, the dispatcher takes the worker's dial gate itself, so a worker that picks the
  dispatch up later can no longer dial it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Coroutine
from typing import Any

import httpx
from redis.asyncio import Redis

from dialroom.call_status import (
    TERMINAL,
    CallStatus,
    CurrentStatus,
    claim_dial,
    current_status,
    transition,
)
from dialroom.dial import DialRequest
from dialroom.dial_queue import ACTIVE, active_calls, load_request, schedule_retry
from dispatcher.settings import DispatcherSettings

logger = logging.getLogger("dialroom.dispatcher")

RETRYABLE = frozenset({CallStatus.BUSY, CallStatus.NO_ANSWER})
LIVE = frozenset({CallStatus.DIALING, CallStatus.RINGING, CallStatus.ANSWERED})
Notify = Callable[[DialRequest, CurrentStatus], Coroutine[Any, Any, None]]


async def live_calls(redis: Redis, *, besides: str | None = None) -> int:
    """Calls dialing, ringing or answered now: what the concurrency cap counts."""
    count = 0
    for call_id in await active_calls(redis):
        if call_id != besides:
            status = await current_status(redis, call_id)
            count += status is not None and status.status in LIVE
    return count


async def sweep(redis: Redis, settings: DispatcherSettings, notify: Notify) -> None:
    now = time.time()
    for call_id in await active_calls(redis):
        status = await current_status(redis, call_id)
        request = await load_request(redis, call_id)
        if status is None or request is None:
            await redis.srem(ACTIVE, call_id)
        elif status.status in LIVE:
            await _fail_if_stuck(redis, settings, call_id, status, now)
        elif status.status in TERMINAL:
            await _after_end(redis, settings, request, status, notify)


async def _after_end(
    redis: Redis,
    settings: DispatcherSettings,
    request: DialRequest,
    status: CurrentStatus,
    notify: Notify,
) -> None:
    call_id = request.call_id
    if (
        status.status in RETRYABLE
        and status.attempts == request.attempt
        and request.attempt < request.max_attempts
    ):
        moved = await schedule_retry(redis, request, delay_s=settings.retry_delay_s)
        if moved.moved:
            logger.info(
                "call %s was %s; attempt %d in %gs",
                call_id,
                status.status.value,
                request.attempt + 1,
                settings.retry_delay_s,
                extra={"call_id": call_id, "persona": request.persona},
            )
        return
    if await redis.srem(ACTIVE, call_id):  # the first sweep to see the end reports it
        logger.info(
            "call %s finished: %s after %d attempt(s)",
            call_id,
            status.status.value,
            status.attempts,
            extra={"call_id": call_id, "persona": request.persona},
        )
        if request.callback_url:
            await notify(request, status)


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


def callback_poster(client: httpx.AsyncClient) -> Notify:
    """POST the final status to the call's `callback_url`; a failure is logged, not retried."""

    async def post(request: DialRequest, status: CurrentStatus) -> None:
        payload = {"call_id": request.call_id, "persona": request.persona, **status.model_dump()}
        try:
            response = await client.post(str(request.callback_url), json=payload)
            response.raise_for_status()
        except httpx.HTTPError as err:
            logger.warning(
                "callback for call %s failed: %s",
                request.call_id,
                type(err).__name__,
                extra={"call_id": request.call_id},
            )

    return post
