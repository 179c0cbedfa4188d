"""Where a call stands: one state machine for its status, and the only writer of its keys.

Why one module: the API, the dispatcher and the worker all move a call on, often at the same
moment. A client's cancel races the dispatch; the sweep that times a call out races the worker
reporting its end; a worker still finishing attempt 1 reports after attempt 2 was scheduled.
So every change is `transition`: a compare-and-set on (status, attempt) against one table of
allowed moves, `ALLOWED`. A final status is never overwritten, a stale attempt never writes,
and every writer names the attempt it acts for. A move out of busy or no-answer is a retry:
it starts the next attempt (`NEXT_ATTEMPT`), the only move that changes the attempt number.

Keys: `dialroom:status:<call_id>` (hash: status, attempts, sip_code, detail, updated_at),
`dialroom:status:<call_id>:history` (list of JSON events, oldest first: the webhook outbox),
`dialroom:metrics:status` (hash: status -> how many times any call entered it, for
/metrics) and `dialroom:status:ended` (the calls an attempt of which ended, for the archiver,
which removes them). Only this module writes them.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from enum import StrEnum

from pydantic import BaseModel
from redis.asyncio import Redis
from redis.asyncio.client import Pipeline
from redis.exceptions import WatchError

logger = logging.getLogger("dialroom.call_status")

STATUS_KEY = "dialroom:status:{call_id}"
RawStatus = dict[bytes | str, bytes | str]  # a status hash as Redis returns it
HISTORY_KEY = "dialroom:status:{call_id}:history"
DIAL_GATE_KEY = "dialroom:dialed:{call_id}:{attempt}"
# The callback_url sender's progress through the status history (dispatcher/webhooks.py).
WEBHOOK_STATE_KEY = "dialroom:webhook:{call_id}"  # hash: sent, tries
STATUS_COUNTS_KEY = "dialroom:metrics:status"
# sorted set: call id -> when an attempt of it last ended; the archiver (`dispatcher.archive`)
# takes a call out once the call has ended for good and is in the history
ENDED_KEY = "dialroom:status:ended"


class CallStatus(StrEnum):
    QUEUED = "queued"
    SCHEDULED = "scheduled"
    DIALING = "dialing"
    RINGING = "ringing"
    ANSWERED = "answered"
    COMPLETED = "completed"
    BUSY = "busy"
    NO_ANSWER = "no-answer"
    REJECTED = "rejected"
    FAILED = "failed"
    CANCELED = "canceled"


# Where a call may go from each status, at the same attempt unless it leaves NEXT_ATTEMPT.
WAITING_MOVES = frozenset(
    {CallStatus.DIALING, CallStatus.SCHEDULED, CallStatus.CANCELED, CallStatus.FAILED}
)
DIAL_ENDS = frozenset(
    {
        CallStatus.ANSWERED,
        CallStatus.BUSY,
        CallStatus.NO_ANSWER,
        CallStatus.REJECTED,
        CallStatus.FAILED,
    }
)
ALLOWED: dict[CallStatus, frozenset[CallStatus]] = {
    # Waiting: dispatched (`dialing`), held for calling hours, canceled, or failed undialed.
    CallStatus.QUEUED: WAITING_MOVES,
    CallStatus.SCHEDULED: WAITING_MOVES,
    # An attempt under way: the worker reports how the dial went; the sweep fails it when stuck.
    CallStatus.DIALING: DIAL_ENDS | {CallStatus.RINGING},
    CallStatus.RINGING: DIAL_ENDS,
    CallStatus.ANSWERED: frozenset({CallStatus.COMPLETED, CallStatus.FAILED}),
    # Final for their attempt: the one way on is a retry, which starts the next attempt.
    CallStatus.BUSY: frozenset({CallStatus.SCHEDULED}),
    CallStatus.NO_ANSWER: frozenset({CallStatus.SCHEDULED}),
    # Final.
    CallStatus.COMPLETED: frozenset(),
    CallStatus.REJECTED: frozenset(),
    CallStatus.FAILED: frozenset(),
    CallStatus.CANCELED: frozenset(),
}
# A move out of these is a retry: the call goes on at attempt n + 1.
NEXT_ATTEMPT = frozenset({CallStatus.BUSY, CallStatus.NO_ANSWER})
FINAL = frozenset(status for status, moves in ALLOWED.items() if not moves)
TERMINAL = FINAL | NEXT_ATTEMPT  # the attempt has ended (busy / no-answer may be retried)
INITIAL = frozenset({CallStatus.QUEUED, CallStatus.SCHEDULED})  # what a new call starts as


class StatusEvent(BaseModel):
    status: CallStatus
    at: float
    attempt: int
    sip_code: int | None = None
    detail: str | None = None


class CurrentStatus(BaseModel):
    """Where a call stands now: the status hash, typed."""

    status: CallStatus
    attempts: int
    sip_code: int | None = None
    detail: str | None = None
    updated_at: float


@dataclass(frozen=True)
class Transition:
    """The outcome of `transition`: whether it moved, and where the call stood before."""

    moved: bool
    before: CurrentStatus | None


def allowed(before: CallStatus, after: CallStatus) -> bool:
    return after in ALLOWED[before]


def record_created(pipe: Pipeline, call_id: str, status: CallStatus, *, attempt: int) -> None:
    """Queue a new call's first status on `pipe`, so it commits with the rest of the call
    (its request, its place in the queue). Nothing to compare with: the call id is new."""
    if status not in INITIAL:
        raise ValueError(f"a call starts {' or '.join(sorted(INITIAL))}, not {status.value}")
    _record(pipe, call_id, status, attempt=attempt, sip_code=None, detail=None)


async def transition(
    redis: Redis,
    call_id: str,
    to: CallStatus,
    *,
    attempt: int,
    expect: Collection[CallStatus] | None = None,
    sip_code: int | None = None,
    detail: str | None = None,
    also: Callable[[Pipeline], object] | None = None,
) -> Transition:
    """Move a call to `to`, if it is at `attempt` and the table allows the move from where
    it is (and it is in `expect`, when the writer narrows it further).

    Compare-and-set with WATCH/MULTI: of two writers racing, the loser sees the winner's
    status and is refused. A refusal is normal (a late report of an ended call) and logged
    at debug only. `also` queues more writes (a queue entry, a set member) into the same
    transaction, so they happen exactly when the status moves.
    """
    key = STATUS_KEY.format(call_id=call_id)
    async with redis.pipeline(transaction=True) as pipe:
        while True:
            try:
                await pipe.watch(key)
                before = parse_current(await pipe.hgetall(key))
                refused = _refusal(before, to, attempt, expect)
                if refused is not None:
                    logger.debug(
                        "call %s stays: not moved to %s, %s",
                        call_id,
                        to.value,
                        refused,
                        extra={"call_id": call_id},
                    )
                    return Transition(moved=False, before=before)
                assert before is not None
                after = attempt + 1 if before.status in NEXT_ATTEMPT else attempt
                pipe.multi()
                _record(pipe, call_id, to, attempt=after, sip_code=sip_code, detail=detail)
                if also is not None:
                    also(pipe)
                await pipe.execute()
                return Transition(moved=True, before=before)
            except WatchError:
                continue


def _refusal(
    before: CurrentStatus | None,
    to: CallStatus,
    attempt: int,
    expect: Collection[CallStatus] | None,
) -> str | None:
    """Why the move may not happen; None when it may."""
    if before is None:
        return "it has no status"
    if before.attempts != attempt:
        return f"it is at attempt {before.attempts}, not {attempt}"
    if expect is not None and before.status not in expect:
        return f"it is {before.status.value}, not {'/'.join(sorted(expect))}"
    if not allowed(before.status, to):
        return f"{before.status.value} -> {to.value} is not an allowed move"
    return None


def _record(
    pipe: Pipeline,
    call_id: str,
    status: CallStatus,
    *,
    attempt: int,
    sip_code: int | None,
    detail: str | None,
) -> None:
    event = StatusEvent(
        status=status, at=time.time(), attempt=attempt, sip_code=sip_code, detail=detail
    )
    fields: dict[str, str | int | float] = {
        "status": status.value,
        "attempts": attempt,
        "updated_at": event.at,
    }
    stale = []  # a sip code or detail belongs to the status it came with, not the next one
    for name, value in (("sip_code", sip_code), ("detail", detail)):
        if value is None:
            stale.append(name)
        else:
            fields[name] = value
    key = STATUS_KEY.format(call_id=call_id)
    if stale:
        pipe.hdel(key, *stale)
    pipe.hset(key, mapping=fields)  # type: ignore[arg-type]
    pipe.rpush(HISTORY_KEY.format(call_id=call_id), event.model_dump_json())
    pipe.hincrby(STATUS_COUNTS_KEY, status.value, 1)
    if status in TERMINAL:
        pipe.zadd(ENDED_KEY, {call_id: event.at})


async def current_status(redis: Redis, call_id: str) -> CurrentStatus | None:
    raw = await redis.hgetall(STATUS_KEY.format(call_id=call_id))
    return parse_current(raw)


async def current_statuses(redis: Redis, call_ids: list[str]) -> list[CurrentStatus | None]:
    """`current_status` of each call, in `call_ids`' order, in one round trip."""
    return [parse_current(fields) for fields in await status_hashes(redis, call_ids)]


async def status_hashes(redis: Redis, call_ids: list[str]) -> list[RawStatus]:
    """Each call's status hash as stored, in one round trip, for a reader that parses each
    on its own (`parse_current`), so that one that cannot be parsed stays that call's fault."""
    async with redis.pipeline(transaction=False) as pipe:
        for call_id in call_ids:
            pipe.hgetall(STATUS_KEY.format(call_id=call_id))
        return list(await pipe.execute())


def parse_current(raw: RawStatus) -> CurrentStatus | None:
    if not raw:
        return None
    fields = {_text(k): _text(v) for k, v in raw.items()}
    return CurrentStatus.model_validate(fields)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


async def status_history(redis: Redis, call_id: str) -> list[StatusEvent]:
    raw = await redis.lrange(HISTORY_KEY.format(call_id=call_id), 0, -1)
    return [StatusEvent.model_validate(json.loads(item)) for item in raw]


async def dial_claimed(redis: Redis, call_id: str, attempt: int) -> bool:
    """Whether a worker (or a sweep failing the call) has taken the attempt's dial gate."""
    return bool(await redis.exists(DIAL_GATE_KEY.format(call_id=call_id, attempt=attempt)))


async def claim_dial(redis: Redis, call_id: str, attempt: int) -> bool:
    """True for exactly one caller per (call, attempt): the gate that prevents a double dial
    when a dispatch is delivered twice (dispatcher crash, worker retry)."""
    gate = DIAL_GATE_KEY.format(call_id=call_id, attempt=attempt)
    return bool(await redis.set(gate, str(time.time()), nx=True, ex=7 * 24 * 3600))
