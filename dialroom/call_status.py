"""Where a call stands: its status history in Redis, written by API, dispatcher and worker.

Keys: `dialroom:status:<call_id>` (hash: status, attempts, sip_code, detail, updated_at),
`dialroom:status:<call_id>:history` (list of JSON events, oldest first), and
`dialroom:metrics:status` (hash: status -> how many times any call entered it, for /metrics).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from enum import StrEnum

from pydantic import BaseModel
from redis.asyncio import Redis
from redis.asyncio.client import Pipeline
from redis.exceptions import WatchError

STATUS_KEY = "dialroom:status:{call_id}"
HISTORY_KEY = "dialroom:status:{call_id}:history"
DIAL_GATE_KEY = "dialroom:dialed:{call_id}:{attempt}"
STATUS_COUNTS_KEY = "dialroom:metrics:status"


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


TERMINAL = frozenset(
    {
        CallStatus.COMPLETED,
        CallStatus.BUSY,
        CallStatus.NO_ANSWER,
        CallStatus.REJECTED,
        CallStatus.FAILED,
        CallStatus.CANCELED,
    }
)


class StatusEvent(BaseModel):
    status: CallStatus
    at: float
    attempt: int = 1
    sip_code: int | None = None
    detail: str | None = None


async def set_status(
    redis: Redis,
    call_id: str,
    status: CallStatus,
    *,
    attempt: int = 1,
    sip_code: int | None = None,
    detail: str | None = None,
) -> StatusEvent:
    async with redis.pipeline(transaction=True) as pipe:
        event = record_status(
            pipe, call_id, status, attempt=attempt, sip_code=sip_code, detail=detail
        )
        await pipe.execute()
    return event


def record_status(
    pipe: Pipeline,
    call_id: str,
    status: CallStatus,
    *,
    attempt: int = 1,
    sip_code: int | None = None,
    detail: str | None = None,
) -> StatusEvent:
    """Queue a status change on `pipe`, so it commits together with the caller's other writes."""
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
    return event


class CurrentStatus(BaseModel):
    """Where a call stands now: the status hash, typed."""

    status: CallStatus
    attempts: int = 1
    sip_code: int | None = None
    detail: str | None = None
    updated_at: float


async def current_status(redis: Redis, call_id: str) -> CurrentStatus | None:
    raw = await redis.hgetall(STATUS_KEY.format(call_id=call_id))
    return parse_current(raw)


def parse_current(raw: dict[bytes | str, bytes | str]) -> CurrentStatus | None:
    if not raw:
        return None
    fields = {_text(k): _text(v) for k, v in raw.items()}
    return CurrentStatus.model_validate(fields)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


@dataclass(frozen=True)
class Transition:
    """The outcome of `transition`: whether it moved, and where the call stood before."""

    moved: bool
    before: CurrentStatus | None


async def transition(
    redis: Redis,
    call_id: str,
    status: CallStatus,
    *,
    expect: Collection[CallStatus],
    expect_attempt: int | None = None,
    attempt: int | None = None,
    detail: str | None = None,
    also: Callable[[Pipeline], object] | None = None,
) -> Transition:
    """Move a call to `status` only if it is now in `expect` (and at `expect_attempt`).

    Compare-and-set with WATCH/MULTI: a cancel racing the dispatcher, or two dispatchers
    racing each other, cannot both win. `also` queues more writes (a queue entry, a set
    member) into the same transaction, so they happen exactly when the status moves.
    """
    key = STATUS_KEY.format(call_id=call_id)
    async with redis.pipeline(transaction=True) as pipe:
        while True:
            try:
                await pipe.watch(key)
                before = parse_current(await pipe.hgetall(key))
                if (
                    before is None
                    or before.status not in expect
                    or (expect_attempt is not None and before.attempts != expect_attempt)
                ):
                    return Transition(moved=False, before=before)
                pipe.multi()
                record_status(
                    pipe,
                    call_id,
                    status,
                    attempt=attempt if attempt is not None else before.attempts,
                    detail=detail,
                )
                if also is not None:
                    also(pipe)
                await pipe.execute()
                return Transition(moved=True, before=before)
            except WatchError:
                continue


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
