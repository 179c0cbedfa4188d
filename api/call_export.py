"""Exporting the history: CSV for a spreadsheet, JSON Lines for a program.

Streamed a page at a time, so a long export holds neither the whole history in memory nor a
database transaction open while the client reads slowly. CSV has one row a call with the
columns people filter on; a JSON line is the call whole, as the history keeps it.
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from typing import Literal

from fastapi.responses import StreamingResponse

from dialroom.history import ArchivedCall, CallFilter, HistoryStore
from dialroom.history.call import Position

Format = Literal["csv", "jsonl"]
PAGE = 500
COLUMNS = (
    "call_id",
    "direction",
    "persona",
    "outcome",
    "status",
    "attempts",
    "campaign_id",
    "caller_number",
    "called_number",
    "started_at",
    "ended_at",
    "duration_s",
    "detail",
)
MEDIA = {"csv": "text/csv; charset=utf-8", "jsonl": "application/x-ndjson"}


def stream(history: HistoryStore, where: CallFilter, kind: Format) -> StreamingResponse:
    lines = _csv(history, where) if kind == "csv" else _jsonl(history, where)
    return StreamingResponse(
        lines,
        media_type=MEDIA[kind],
        headers={"Content-Disposition": f'attachment; filename="calls.{kind}"'},
    )


async def calls(history: HistoryStore, where: CallFilter) -> AsyncIterator[ArchivedCall]:
    after: Position | None = None
    while page := await history.list(where, after=after, limit=PAGE):
        for call in page:
            yield call
        after = Position(started_at=page[-1].started_at, call_id=page[-1].call_id)


async def _jsonl(history: HistoryStore, where: CallFilter) -> AsyncIterator[str]:
    async for call in calls(history, where):
        yield call.model_dump_json() + "\n"


async def _csv(history: HistoryStore, where: CallFilter) -> AsyncIterator[str]:
    yield _row(COLUMNS)
    async for call in calls(history, where):
        yield _row(_columns(call))


def _columns(call: ArchivedCall) -> tuple[object, ...]:
    return (
        call.call_id,
        call.direction,
        call.persona,
        call.outcome,
        call.status.value if call.status else "",
        call.attempts,
        call.campaign_id or "",
        call.caller_number or "",
        call.called_number or "",
        call.started_at,
        call.ended_at,
        round(call.ended_at - call.started_at, 2),
        call.detail or "",
    )


def _row(values: tuple[object, ...]) -> str:
    out = io.StringIO()
    csv.writer(out).writerow(values)
    return out.getvalue()
