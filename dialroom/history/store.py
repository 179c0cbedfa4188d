"""The history's one door: record, read, list, erase and prune calls, and count them.

Every write is keyed by call id and idempotent: recording a call again (an archiver that
died before it let the Redis keys go, two dispatchers archiving at once, a worker's record
arriving after the call's final status) replaces the row with the newer view of the call.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import ColumnElement, and_, delete, event, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from dialroom.history import stats as stats_
from dialroom.history.call import ArchivedCall, Bucket, CallFilter, Position, Stats
from dialroom.history.tables import CallRow, TurnRow

CALLS = CallRow.__table__
TURNS = TurnRow.__table__


async def open_history(url: str) -> HistoryStore:
    """Open the database at `url` and migrate it to the code's schema."""
    # Imported here: Alembic (with Mako and Pygments) is for the API and the archiver, which
    # migrate; the worker's call processes read the history (caller memory) and never do.
    from dialroom.history.migrate import upgrade

    engine = create_engine(url)
    await upgrade(engine)
    return HistoryStore(engine)


def create_engine(url: str) -> AsyncEngine:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_async_engine(url, pool_pre_ping=True)
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_async_engine(url, connect_args={"timeout": 30})
    event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    return engine


def _sqlite_pragmas(dbapi_connection: Any, _record: object) -> None:
    """WAL: the API reads while the archiver writes; foreign keys: turns go with their call."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


class HistoryStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def close(self) -> None:
        await self.engine.dispose()

    @asynccontextmanager
    async def _write(self) -> AsyncIterator[AsyncConnection]:
        async with self.engine.begin() as conn:
            yield conn

    async def record(self, call: ArchivedCall) -> None:
        """Insert the call, or replace what the history had of it."""
        row = _row(call)
        insert = _insert_for(self.engine)
        upsert = insert.values(row).on_conflict_do_update(
            index_elements=[CALLS.c.call_id],
            set_={name: value for name, value in row.items() if name != "call_id"},
        )
        turns = [
            {"call_id": call.call_id, "persona": call.persona, "at": at, "voice_to_voice_s": s}
            for at, s in call.voice_to_voice
        ]
        async with self._write() as conn:
            await conn.execute(upsert)
            await conn.execute(delete(TURNS).where(TURNS.c.call_id == call.call_id))
            if turns:
                await conn.execute(TURNS.insert(), turns)

    async def import_calls(self, calls: Sequence[ArchivedCall]) -> None:
        """Insert calls the history does not have yet, and their turns, in one transaction:
        for bulk loads such as benchmarks and imports, where one upsert per call is too slow.
        A call already there fails the whole batch (use `record` to replace one)."""
        if not calls:
            return
        turns = [
            {"call_id": call.call_id, "persona": call.persona, "at": at, "voice_to_voice_s": s}
            for call in calls
            for at, s in call.voice_to_voice
        ]
        async with self._write() as conn:
            await conn.execute(CALLS.insert(), [_row(call) for call in calls])
            if turns:
                await conn.execute(TURNS.insert(), turns)

    async def get(self, call_id: str) -> ArchivedCall | None:
        async with self.engine.connect() as conn:
            body = await conn.scalar(select(CALLS.c.body).where(CALLS.c.call_id == call_id))
        return ArchivedCall.model_validate_json(body) if body is not None else None

    async def list(
        self, where: CallFilter, *, after: Position | None = None, limit: int = 20
    ) -> list[ArchivedCall]:
        """Calls matching `where`, newest start first, from just after `after`."""
        query = select(CALLS.c.body).where(*_conditions(where))
        if after is not None:
            query = query.where(
                or_(
                    CALLS.c.started_at < after.started_at,
                    and_(CALLS.c.started_at == after.started_at, CALLS.c.call_id < after.call_id),
                )
            )
        query = query.order_by(CALLS.c.started_at.desc(), CALLS.c.call_id.desc()).limit(limit)
        async with self.engine.connect() as conn:
            bodies = (await conn.scalars(query)).all()
        return [ArchivedCall.model_validate_json(body) for body in bodies]

    async def delete(self, call_id: str) -> bool:
        """Erase the call and its turns; False when the history had no such call."""
        async with self._write() as conn:
            await conn.execute(delete(TURNS).where(TURNS.c.call_id == call_id))
            gone = await conn.execute(delete(CALLS).where(CALLS.c.call_id == call_id))
        return bool(gone.rowcount)

    async def prune(self, *, older_than: float) -> int:
        """Erase every call that ended before `older_than`; how many."""
        old = select(CALLS.c.call_id).where(CALLS.c.ended_at < older_than)
        async with self._write() as conn:
            await conn.execute(delete(TURNS).where(TURNS.c.call_id.in_(old)))
            gone = await conn.execute(delete(CALLS).where(CALLS.c.ended_at < older_than))
        return int(gone.rowcount)

    async def stats(self, where: CallFilter, *, bucket: Bucket) -> Stats:
        """Calls by outcome, and voice-to-voice p50/p95 by persona and by trunk, per hour or
        per day."""
        calls = select(CALLS.c.started_at, CALLS.c.outcome).where(*_conditions(where))
        turns = (
            select(TURNS.c.at, TURNS.c.persona, CALLS.c.trunk, TURNS.c.voice_to_voice_s)
            .join(CALLS, CALLS.c.call_id == TURNS.c.call_id)
            .where(*_conditions(where))
        )
        async with self.engine.connect() as conn:
            outcomes = [(r.started_at, r.outcome) for r in await conn.execute(calls)]
            replies = [
                stats_.Reply(r.at, r.persona, r.trunk, r.voice_to_voice_s)
                for r in await conn.execute(turns)
            ]
        return stats_.summarize(outcomes, replies, bucket=bucket)


def _insert_for(engine: AsyncEngine) -> Any:
    dialect = sqlite if engine.dialect.name == "sqlite" else postgresql
    return dialect.insert(CALLS)


def _row(call: ArchivedCall) -> dict[str, Any]:
    return {
        "call_id": call.call_id,
        "direction": call.direction,
        "persona": call.persona,
        "status": call.status.value if call.status is not None else None,
        "outcome": call.outcome,
        "campaign_id": call.campaign_id,
        "caller_number": call.caller_number,
        "called_number": call.called_number,
        "started_at": call.started_at,
        "ended_at": call.ended_at,
        "body": call.model_dump_json(),
        "has_recording": call.record is not None and call.record.recording is not None,
        "trunk": call.trunk,
        "caller_tail": _tail(call.caller_number),
        "called_tail": _tail(call.called_number),
    }


def _conditions(where: CallFilter) -> list[ColumnElement[bool]]:
    c = CALLS.c
    found: list[ColumnElement[bool]] = []
    for column, value in (
        (c.direction, where.direction),
        (c.persona, where.persona),
        (c.outcome, where.outcome),
        (c.status, where.status.value if where.status is not None else None),
        (c.campaign_id, where.campaign_id),
        (c.trunk, where.trunk),
    ):
        if value is not None:
            found.append(column == value)
    if where.number:
        found.append(_number_matches(where.number))
    if where.has_recording is not None:
        found.append(c.has_recording == where.has_recording)
    if where.since is not None:
        found.append(c.started_at >= where.since)
    if where.until is not None:
        found.append(c.started_at < where.until)
    return found


TAIL = 4  # digits kept apart and indexed (`caller_tail`, `called_tail`: migration 0006)


def _tail(number: str | None) -> str | None:
    return number[-TAIL:] if number else None


def _number_matches(number: str) -> ColumnElement[bool]:
    """'+...' is a whole number; digits alone are a number's last digits: four or more seek
    the indexed last four, then test the whole suffix on what they found."""
    c = CALLS.c
    if number.startswith("+"):
        return or_(c.caller_number == number, c.called_number == number)
    if len(number) < TAIL:
        return or_(c.caller_number.endswith(number), c.called_number.endswith(number))
    tail = number[-TAIL:]
    return or_(
        and_(c.caller_tail == tail, c.caller_number.endswith(number)),
        and_(c.called_tail == tail, c.called_number.endswith(number)),
    )
