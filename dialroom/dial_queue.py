"""The outbound dial queue: Redis Streams with a consumer group, written by the API.

Why not arq or saq: both keep a job "in progress" under a lease and run it again when the
lease runs out, which is at-least-once like this design, but (1) a dispatcher waiting for a
free slot under the global concurrency cap must either hold the job past its lease or defer
it with a new score, and deferring reorders the queue; here the dispatcher simply holds the
head entry and keeps it claimed, so calls go out in the order they came in; (2) neither has a
compare-and-set status store that a cancel, a retry and a dispatch can race on; and (3) both
add a job model of their own beside `DialRequest`. The whole queue is the few Redis commands
below, each step atomic (MULTI or one Lua script):

- Accept (API, `enqueue`): one MULTI writes the request, the `queued` status, the calls index
  and either a stream entry (`XADD`) or, for a later `schedule_at`, a member of the
  `scheduled` sorted set. An `Idempotency-Key` is WATCHed and written in the same MULTI, so
  a repeat can only ever see the first call's id.
- Due (dispatcher): a Lua script moves due members of `scheduled` into the stream.
- Dispatch (dispatcher): `XREADGROUP` delivers an entry; it stays in the group's pending list
  until `XACK`. The dispatcher moves the status to `dialing` (compare-and-set, so a cancel
  wins or loses cleanly), creates the room and the agent dispatch, then acks. Killed at any
  point, the entry is still pending: on restart the dispatcher reads its own pending entries
  first, and other dispatchers take over entries idle longer than `CLAIM_IDLE_S` with
  `XAUTOCLAIM`. Never lost: nothing is acked before the dispatch exists. Never twice: before
  creating a dispatch the dispatcher lists the room's dispatches and skips when one for this
  call and attempt exists; the worker's `claim_dial` is the last gate.
- Retry (dispatcher): a busy / no-answer attempt below `max_attempts` goes back into
  `scheduled` with the next attempt number, in the same MULTI as its status change.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline
from redis.exceptions import WatchError

from dialroom.call_status import (
    NEXT_ATTEMPT,
    STATUS_KEY,
    CallStatus,
    CurrentStatus,
    Transition,
    current_status,
    parse_current,
    record_created,
    transition,
)
from dialroom.dial import DialRequest, OutboundCall

QUEUE_STREAM = "dialroom:dial:queue"  # stream of {"request": DialRequest JSON}, due now
GROUP = "dispatchers"
SCHEDULED = "dialroom:dial:scheduled"  # sorted set: call id -> unix time it is due
# set: calls the sweep follows to their end: dispatched ones, and canceled ones with a
# callback (`cancel`), until it has reported their end
ACTIVE = "dialroom:dial:active"
REQUEST_KEY = "dialroom:dial:request:{call_id}"  # the current DialRequest (JSON)
CALLS = "dialroom:dial:calls"  # sorted set: call id -> sequence number (newest highest)
SEQUENCE = "dialroom:dial:sequence"
IDEMPOTENCY_KEY = "dialroom:dial:idempotency:{scope}:{key}"
IDEMPOTENCY_TTL_S = 24 * 3600
CANCELABLE = frozenset({CallStatus.QUEUED, CallStatus.SCHEDULED})


@dataclass(frozen=True)
class Accepted:
    call_id: str
    status: CallStatus
    created: bool  # False: an Idempotency-Key repeat, nothing new was queued


def new_call_id() -> str:
    return uuid.uuid4().hex


def due_at(request: OutboundCall) -> float | None:
    """When a call is due, if that is later than now; None for "dial as soon as possible"."""
    if request.schedule_at is None:
        return None
    due = request.schedule_at.timestamp()
    return due if due > time.time() else None


async def enqueue(
    redis: Redis,
    order: OutboundCall,
    *,
    idempotency: tuple[str, str] | None = None,
) -> Accepted:
    """Accept a call: queued now, or scheduled for its `schedule_at`.

    `idempotency` is (scope, key), the scope being the client's key fingerprint: a repeat of
    the same key returns the first call's id and queues nothing.
    """
    request = DialRequest(**order.model_dump(), call_id=new_call_id())
    guard = IDEMPOTENCY_KEY.format(scope=idempotency[0], key=idempotency[1]) if idempotency else ""
    due = due_at(request)
    status = CallStatus.SCHEDULED if due is not None else CallStatus.QUEUED
    async with redis.pipeline(transaction=True) as pipe:
        while True:
            try:
                if guard:
                    await pipe.watch(guard)
                    if existing := await pipe.get(guard):
                        await pipe.reset()
                        return await _repeat(redis, _text(existing))
                sequence = await redis.incr(SEQUENCE)
                pipe.multi()
                if guard:
                    pipe.set(guard, request.call_id, ex=IDEMPOTENCY_TTL_S)
                _write_accepted(pipe, request, status, sequence, due)
                await pipe.execute()
                return Accepted(call_id=request.call_id, status=status, created=True)
            except WatchError:
                continue


def _write_accepted(
    pipe: Pipeline, request: DialRequest, status: CallStatus, sequence: int, due: float | None
) -> None:
    payload = request.model_dump_json()
    pipe.set(REQUEST_KEY.format(call_id=request.call_id), payload)
    pipe.zadd(CALLS, {request.call_id: sequence})
    record_created(pipe, request.call_id, status, attempt=request.attempt)
    if due is None:
        pipe.xadd(QUEUE_STREAM, {"request": payload})
    else:
        pipe.zadd(SCHEDULED, {request.call_id: due})


async def _repeat(redis: Redis, call_id: str) -> Accepted:
    now = await current_status(redis, call_id)
    return Accepted(call_id=call_id, status=now.status if now else CallStatus.QUEUED, created=False)


async def cancel(
    redis: Redis, call_id: str, *, detail: str = "canceled by the client"
) -> Transition:
    """Cancel a call that has not been dialed yet, at whichever attempt it is now; `moved`
    is False when it is too late (`before` is None when there is no such call)."""
    while True:
        request = await load_request(redis, call_id)
        if request is None:
            return Transition(moved=False, before=await current_status(redis, call_id))
        moved = await cancel_attempt(redis, request, detail=detail)
        if moved.moved or moved.before is None or moved.before.attempts == request.attempt:
            return moved
        # A retry was scheduled between the two reads: cancel that attempt.


async def cancel_attempt(redis: Redis, request: DialRequest, *, detail: str) -> Transition:
    """Cancel the attempt `request` names, if the call is still waiting at it.

    A call with a `callback_url` joins `active` with its cancel: the dispatcher's sweep
    follows active calls, so it reports this end and delivers its webhooks like any other,
    though the call never reached a dispatcher.
    """
    call_id = request.call_id

    def drop(pipe: Pipeline) -> None:
        pipe.zrem(SCHEDULED, call_id)
        if request.callback_url:
            pipe.sadd(ACTIVE, call_id)

    return await transition(
        redis,
        call_id,
        CallStatus.CANCELED,
        attempt=request.attempt,
        expect=CANCELABLE,
        detail=detail,
        also=drop,
    )


async def schedule_retry(redis: Redis, request: DialRequest, *, delay_s: float) -> Transition:
    """Queue the next attempt of a busy / no-answer call, `delay_s` from now.

    Compare-and-set on the attempt that just ended: two dispatchers seeing the same busy
    status schedule one retry between them.
    """
    retry = request.model_copy(update={"attempt": request.attempt + 1})

    def queue_it(pipe: Pipeline) -> None:
        pipe.set(REQUEST_KEY.format(call_id=retry.call_id), retry.model_dump_json())
        pipe.zadd(SCHEDULED, {retry.call_id: time.time() + delay_s})
        pipe.srem(ACTIVE, retry.call_id)

    return await transition(
        redis,
        request.call_id,
        CallStatus.SCHEDULED,
        attempt=request.attempt,  # the one that ended; out of busy, the call is at the next
        expect=NEXT_ATTEMPT,
        detail=f"attempt {retry.attempt} of {retry.max_attempts} in {delay_s:g}s",
        also=queue_it,
    )


async def load_request(redis: Redis, call_id: str) -> DialRequest | None:
    raw = await redis.get(REQUEST_KEY.format(call_id=call_id))
    return DialRequest.model_validate_json(raw) if raw else None


async def stored_requests(redis: Redis, call_ids: list[str]) -> list[str | None]:
    """Each call's request as stored (JSON, parsed by the reader, one at a time), in one
    round trip."""
    if not call_ids:
        return []
    raw = await redis.mget([REQUEST_KEY.format(call_id=call_id) for call_id in call_ids])
    return [_text(item) if item is not None else None for item in raw]


async def call_page(redis: Redis, *, before: int | None, count: int) -> list[tuple[str, int]]:
    """Call ids newest first, with their sequence numbers, older than `before` when given."""
    top = f"({before}" if before is not None else "+inf"
    rows = await redis.zrevrangebyscore(CALLS, top, "-inf", start=0, num=count, withscores=True)
    return [(_text(row[0]), int(row[1])) for row in rows]


async def active_calls(redis: Redis) -> list[str]:
    """Calls the dispatcher dispatched that have not finished yet."""
    return [_text(call_id) for call_id in await redis.smembers(ACTIVE)]


async def load_calls(
    redis: Redis, call_ids: list[str]
) -> list[tuple[str, CurrentStatus, DialRequest]]:
    """Status and request of each call, in one round trip; calls missing either are left out."""
    async with redis.pipeline(transaction=False) as pipe:
        for call_id in call_ids:
            pipe.hgetall(STATUS_KEY.format(call_id=call_id))
            pipe.get(REQUEST_KEY.format(call_id=call_id))
        replies = await pipe.execute()
    loaded = []
    for call_id, raw_status, raw_request in zip(call_ids, replies[::2], replies[1::2], strict=True):
        status = parse_current(raw_status)
        if status is not None and raw_request:
            loaded.append((call_id, status, DialRequest.model_validate_json(raw_request)))
    return loaded


async def queue_depth(redis: Redis) -> dict[str, int]:
    """Calls waiting: `ready` (in the stream, not yet acked) and `scheduled` (not yet due)."""
    async with redis.pipeline(transaction=False) as pipe:
        pipe.xlen(QUEUE_STREAM)
        pipe.zcard(SCHEDULED)
        ready, scheduled = await pipe.execute()
    return {"ready": int(ready), "scheduled": int(scheduled)}


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
