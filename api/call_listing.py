"""`GET /api/calls`: the calls still in Redis (waiting, live, just ended), then the history.

Two sources, one listing, one cursor. First the calls placed through the API that Redis
still holds, newest placed first (the dial queue's index; cursor: their sequence number);
then the finished calls of the history, newest started first (cursor `h:<start>:<id>`, or
`h` for its top). A call is in one source at a time: the archiver takes it out of the dial
queue's index only once it is in the history, and a history page leaves out calls the index
still holds. Inbound calls are in the history only. `outcome`, `since` and `until` match
finished calls alone, so with any of them the listing starts at the history.
"""

from __future__ import annotations

from redis.asyncio import Redis

from api.errors import api_error
from api.models import CallPage, CallSummary
from dialroom import campaigns, dial_queue
from dialroom.call_status import CurrentStatus
from dialroom.dial import DialRequest
from dialroom.history import ArchivedCall, CallFilter, HistoryStore
from dialroom.history.call import Position

CURSOR_PATTERN = r"^(\d{1,18}|h|h:\d{1,12}(\.\d{1,9})?:[A-Za-z0-9_-]{1,64})$"
MAX_SCAN = 1000  # live calls one request looks at, at most, to fill a filtered page
HISTORY_TOP = "h"


async def list_calls(
    redis: Redis, history: HistoryStore, where: CallFilter, *, cursor: str | None, limit: int
) -> CallPage:
    if cursor is None:
        cursor = HISTORY_TOP if where.history_only or where.direction == "inbound" else ""
    found: list[CallSummary] = []
    if not cursor.startswith(HISTORY_TOP):
        found, before, exhausted = await _live_page(redis, where, cursor, limit)
        if not exhausted:
            return CallPage(calls=found, next_cursor=str(before))
        cursor = HISTORY_TOP
    more, after = await history_page(redis, history, where, _position(cursor), limit - len(found))
    return CallPage(calls=found + more, next_cursor=after)


async def history_page(
    redis: Redis, history: HistoryStore, where: CallFilter, after: Position | None, limit: int
) -> tuple[list[CallSummary], str | None]:
    """Up to `limit` finished calls after `after`, and the cursor of the next page (None at
    the end). Calls the live listing still shows are left out."""
    found: list[CallSummary] = []
    while len(found) < limit:
        page = await history.list(where, after=after, limit=limit - len(found))
        if not page:
            return found, None
        after = Position(started_at=page[-1].started_at, call_id=page[-1].call_id)
        live = await _still_live(redis, [c.call_id for c in page])
        found += [archived_summary(c) for c in page if c.call_id not in live]
    assert after is not None
    return found, f"h:{after.started_at!r}:{after.call_id}"


async def _live_page(
    redis: Redis, where: CallFilter, cursor: str, limit: int
) -> tuple[list[CallSummary], int | None, bool]:
    """Calls of the dial queue's index matching `where`, before sequence `cursor`: the page,
    where it stopped, and whether the index is exhausted."""
    found: list[CallSummary] = []
    before = int(cursor) if cursor else None
    scanned = 0
    while len(found) < limit and scanned < MAX_SCAN:
        page = await dial_queue.call_page(redis, before=before, count=limit)
        if not page:
            return found, None, True
        scanned += len(page)
        sequence = dict(page)
        loaded = await dial_queue.load_calls(redis, [c for c, _ in page])
        owners = await campaigns.campaigns_of(redis, [c for c, _, _ in loaded])
        for call_id, now, request in loaded:
            summary = live_summary(call_id, now, request, owners.get(call_id))
            if _matches(summary, where):
                found.append(summary)
                before = sequence[call_id]
                if len(found) == limit:
                    break
        else:
            before = page[-1][1]
    return found, before, False


def _matches(call: CallSummary, where: CallFilter) -> bool:
    numbers = [n for n in (call.caller_number, call.called_number) if n]
    number = where.number
    return (
        where.persona in (None, call.persona)
        and where.status in (None, call.status)
        and where.campaign_id in (None, call.campaign_id)
        and (
            number is None
            or any(n == number if number.startswith("+") else n.endswith(number) for n in numbers)
        )
    )


async def _still_live(redis: Redis, call_ids: list[str]) -> set[str]:
    scores = await redis.zmscore(dial_queue.CALLS, call_ids)
    return {c for c, score in zip(call_ids, scores, strict=True) if score is not None}


def _position(cursor: str) -> Position | None:
    if cursor == HISTORY_TOP:
        return None
    _, started_at, call_id = cursor.split(":", 2)
    try:
        return Position(started_at=float(started_at), call_id=call_id)
    except ValueError as err:
        raise api_error(422, ("query", "cursor"), "not a cursor of this API", "bad_cursor") from err


def live_summary(
    call_id: str, now: CurrentStatus, request: DialRequest, campaign_id: str | None
) -> CallSummary:
    return CallSummary(
        call_id=call_id,
        status=now.status,
        attempts=now.attempts,
        persona=request.persona,
        to_number=request.to_number,
        caller_number=request.from_number,
        called_number=request.to_number,
        updated_at=now.updated_at,
        campaign_id=campaign_id,
    )


def archived_summary(call: ArchivedCall) -> CallSummary:
    return CallSummary(
        call_id=call.call_id,
        direction=call.direction,
        status=call.status,
        outcome=call.outcome,
        attempts=call.attempts,
        persona=call.persona,
        to_number=call.called_number if call.direction == "outbound" else None,
        caller_number=call.caller_number,
        called_number=call.called_number,
        started_at=call.started_at,
        ended_at=call.ended_at,
        updated_at=call.ended_at,
        campaign_id=call.campaign_id,
    )
