"""A call's Redis side, as the history sees it: is it over, what was it, let it go, erase it.

A call is over when nothing will write to it again: an inbound call once its worker wrote
the record; a call placed through the API or a campaign once its status is final (or busy /
no-answer at its last attempt), whether or not a worker ever took it. A canceled call, or one
failed before any dial, has no worker record; it is archived from its status alone.

Two sorted sets say which calls may be over: `CALLS_TO_ARCHIVE` (records the workers wrote)
and `ENDED_KEY` (calls whose attempt ended). Once a call is in the history it leaves both, and
the dial queue's index of calls, and its keys expire after CALL_RECORD_TTL_S: Redis keeps
live state only. `CALLS_BY_END`, the index of the records Redis holds, is trimmed as they
expire (`trim_expired`). A member is removed only if its score is still the one read, so an end
written meanwhile (the worker's record after the final status) is archived on the next pass.
"""

from __future__ import annotations

from redis.asyncio import Redis

from dialroom import campaigns, dial_queue
from dialroom.call_status import (
    DIAL_GATE_KEY,
    ENDED_KEY,
    FINAL,
    HISTORY_KEY,
    NEXT_ATTEMPT,
    STATUS_KEY,
    TERMINAL,
    WEBHOOK_STATE_KEY,
    CurrentStatus,
    StatusEvent,
    current_status,
    status_history,
)
from dialroom.calls import (
    CALL_KEY,
    CALLS_BY_END,
    CALLS_TO_ARCHIVE,
    CallRecord,
    load_call_record,
)
from dialroom.dial import DialRequest
from dialroom.history.call import ArchivedCall

INDEXES = (CALLS_TO_ARCHIVE, ENDED_KEY)
# ZREM member if its score is still ARGV[2]: an end written after it was read stays queued.
_REMOVE_IF_SAME = """
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if score and tonumber(score) == tonumber(ARGV[2]) then
  return redis.call('ZREM', KEYS[1], ARGV[1])
end
return 0
"""


async def maybe_over(redis: Redis, *, count: int) -> dict[str, dict[str, float]]:
    """Up to `count` calls of each index that may be over: call id -> index -> score."""
    found: dict[str, dict[str, float]] = {}
    for index in INDEXES:
        for call_id, score in await redis.zrange(index, 0, count - 1, withscores=True):
            found.setdefault(_text(call_id), {})[index] = float(score)
    return found


async def gather(redis: Redis, call_id: str) -> ArchivedCall | None:
    """The call as the history keeps it, once it is over; None while it is not (or unknown)."""
    record = await load_call_record(redis, call_id)
    status = await current_status(redis, call_id)
    if status is None:
        return None if record is None else from_record(record)
    request = await dial_queue.load_request(redis, call_id)
    if not is_over(status, request):
        return None
    history = await status_history(redis, call_id)
    owners = await campaigns.campaigns_of(redis, [call_id])
    return placed_call(call_id, status, history, request, record, owners.get(call_id))


async def forget_moved_on(redis: Redis, call_id: str, *, seen: dict[str, float]) -> None:
    """An attempt ended but the call went on (a retry is scheduled or dialing): it leaves the
    ended index until its next attempt ends, so waiting retries never crowd out ended calls."""
    status = await current_status(redis, call_id)
    if status is not None and status.status not in TERMINAL and ENDED_KEY in seen:
        await redis.eval(_REMOVE_IF_SAME, 1, ENDED_KEY, call_id, repr(seen[ENDED_KEY]))


def is_over(status: CurrentStatus, request: DialRequest | None) -> bool:
    if status.status in FINAL:
        return True
    last = request.max_attempts if request is not None else status.attempts
    return status.status in NEXT_ATTEMPT and status.attempts >= last


def from_record(record: CallRecord) -> ArchivedCall:
    """An inbound call (or any call with no status): its worker's record is all there is."""
    return ArchivedCall(
        call_id=record.call_id,
        direction=record.direction,
        persona=record.persona,
        outcome=record.outcome,
        started_at=record.started_at,
        ended_at=record.ended_at,
        caller_number=record.caller_number,
        called_number=record.called_number,
        detail=record.error,
        record=record,
    )


def placed_call(
    call_id: str,
    status: CurrentStatus,
    history: list[StatusEvent],
    request: DialRequest | None,
    record: CallRecord | None,
    campaign_id: str | None,
) -> ArchivedCall:
    """A call placed through the API or a campaign, from its status and its last attempt's
    record. A record of an earlier attempt (busy, then canceled before the retry) is not this
    attempt's: the final status is the outcome then."""
    attempt_began = min((e.at for e in history if e.attempt == status.attempts), default=0.0)
    if record is not None and record.started_at < attempt_began:
        record = None
    first = history[0].at if history else status.updated_at
    return ArchivedCall(
        call_id=call_id,
        direction="outbound",
        persona=record.persona if record else (request.persona if request else ""),
        outcome=record.outcome if record else status.status.value,
        started_at=record.started_at if record else first,
        ended_at=max(record.ended_at if record else 0.0, status.updated_at),
        caller_number=record.caller_number if record else (request and request.from_number),
        called_number=record.called_number if record else (request and request.to_number),
        status=status.status,
        attempts=status.attempts,
        sip_code=status.sip_code,
        detail=status.detail,
        campaign_id=campaign_id,
        history=history,
        request=request,
        record=record,
    )


async def let_go(
    redis: Redis, call_id: str, *, seen: dict[str, float], ttl_s: int, attempts: int
) -> None:
    """The call is in the history: its keys expire, and it leaves the indexes it was read
    from (if no newer end came meanwhile) and the dial queue's index of calls."""
    async with redis.pipeline(transaction=True) as pipe:
        for key in _keys(call_id, attempts):
            pipe.expire(key, ttl_s)
        pipe.zrem(dial_queue.CALLS, call_id)
        for index, score in seen.items():
            pipe.eval(_REMOVE_IF_SAME, 1, index, call_id, repr(score))
        await pipe.execute()


async def erase(redis: Redis, call_id: str) -> int:
    """Remove every Redis key and index entry of the call; how many keys were deleted.

    Keys named after the call are found by SCAN (the dial gates of each attempt, the webhook
    outbox's state), so a key added later by another module is erased too.
    """
    keys = [_text(k) async for k in redis.scan_iter(match=f"dialroom:*{call_id}*", count=1000)]
    async with redis.pipeline(transaction=True) as pipe:
        if keys:
            pipe.delete(*keys)
        for index in (*INDEXES, CALLS_BY_END, dial_queue.CALLS, dial_queue.SCHEDULED):
            pipe.zrem(index, call_id)
        pipe.srem(dial_queue.ACTIVE, call_id)
        pipe.hdel(campaigns.CAMPAIGN_OF_CALL, call_id)
        await pipe.execute()
    return len(keys)


async def trim_expired(redis: Redis, *, ttl_s: int, now: float) -> None:
    """Records that ended over `ttl_s` ago have expired (or are about to): out of the index."""
    await redis.zremrangebyscore(CALLS_BY_END, "-inf", now - ttl_s)


def _keys(call_id: str, attempts: int) -> list[str]:
    named = (CALL_KEY, STATUS_KEY, HISTORY_KEY, WEBHOOK_STATE_KEY, dial_queue.REQUEST_KEY)
    gates = [DIAL_GATE_KEY.format(call_id=call_id, attempt=n) for n in range(1, attempts + 1)]
    return [key.format(call_id=call_id) for key in named] + gates


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
