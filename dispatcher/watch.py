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

from redis.asyncio import Redis
from redis.exceptions import RedisError

from dialroom.call_status import (
    TERMINAL,
    CallStatus,
    CurrentStatus,
    RawStatus,
    claim_dial,
    parse_current,
    status_hashes,
    transition,
)
from dialroom.dial import DialRequest
from dialroom.dial_queue import ACTIVE, active_calls, schedule_retry, stored_requests
from dispatcher import webhooks
from dispatcher.rules import rules_for
from dispatcher.settings import DispatcherSettings
from dispatcher.slots import TRUNKS

logger = logging.getLogger("dialroom.dispatcher")

RETRYABLE = frozenset({CallStatus.BUSY, CallStatus.NO_ANSWER})
LIVE = frozenset({CallStatus.DIALING, CallStatus.RINGING, CallStatus.ANSWERED})


async def sweep(redis: Redis, settings: DispatcherSettings) -> None:
    """One pass over the active calls. A call whose step raises (anything but Redis
    trouble, which ends the pass) is logged and left for the next pass: one bad call does
    not stop the others' retries, timeouts and webhooks.

    Every call's status and request are read in two round trips, not two per call: the pass
    runs every `poll_interval_s` on the dispatch loop's event loop and Redis, and with a
    burst's 40 calls live, 80 round trips a pass slowed every queue entry's own.
    """
    now = time.time()
    call_ids = await active_calls(redis)
    if not call_ids:
        return
    statuses = await status_hashes(redis, call_ids)
    requests = await stored_requests(redis, call_ids)
    for call_id, raw_status, raw_request in zip(call_ids, statuses, requests, strict=True):
        try:
            await _follow(redis, settings, call_id, raw_status, raw_request, now)
        except RedisError:
            raise
        except Exception:
            logger.exception("call %s: sweeping it failed; next pass", call_id)


async def _follow(
    redis: Redis,
    settings: DispatcherSettings,
    call_id: str,
    raw_status: RawStatus,
    raw_request: str | None,
    now: float,
) -> None:
    """One call's step, from its status hash and request as the pass read them (parsed
    here, so that one that cannot be parsed is this call's fault alone)."""
    status = parse_current(raw_status)
    request = DialRequest.model_validate_json(raw_request) if raw_request else None
    if status is None or request is None:
        await redis.srem(ACTIVE, call_id)
        return
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
        delay = await _retry_delay(redis, settings, request)
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


async def _retry_delay(redis: Redis, settings: DispatcherSettings, request: DialRequest) -> float:
    """The persona's retry delay; the dispatcher's when the persona cannot be read at all
    (the retry's dial meets the same fault and fails the call with its reason)."""
    try:
        return (await rules_for(redis, request, settings)).retry_delay_s
    except RedisError:
        raise
    except Exception as err:
        logger.warning("call %s: no persona rules (%s); default retry delay", request.call_id, err)
        return settings.retry_delay_s


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
        attempt=status.attempts,
        detail=why,
    )
    if moved.moved:
        logger.warning("call %s failed: %s", call_id, why, extra={"call_id": call_id})
