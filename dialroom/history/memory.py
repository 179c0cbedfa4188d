"""Returning callers (persona `memory:`): a short note of each call, kept on the other
party's number, that the next call from that number reads as `{caller_memory}`.

The note is the call's post-call summary and extracted fields; the worker says how long to
keep it (`CallRecord.memory_keep_days`) and the archiver, the history's one writer, keeps it
(`remember`) once the call is in the history. A note belongs to its call: erasing the call
(or the call leaving the history at RETENTION_DAYS) erases the note with it, by the foreign
key. A note is also erased per number (`forget_number`) and when its own `keep_days` run out
(`forget_expired`; an expired note is never read, pruned or not).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict
from sqlalchemy import Float, ForeignKey, Index, Integer, String, Text, delete, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.orm import Mapped, mapped_column

from dialroom.history.call import ArchivedCall
from dialroom.history.tables import Base

DAY_S = 86400.0
RECALLED = 3  # notes of the latest calls a new call is told
MAX_NOTE_CHARS = 600  # a summary is at most a few sentences; the prompt stays small


class NoteRow(Base):
    __tablename__ = "caller_notes"  # migration 0003

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    call_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("calls.call_id", ondelete="CASCADE"), unique=True
    )
    number: Mapped[str] = mapped_column(String(32))
    persona: Mapped[str] = mapped_column(String(64))
    at: Mapped[float] = mapped_column(Float)  # when the call ended
    expires_at: Mapped[float] = mapped_column(Float)
    note: Mapped[str] = mapped_column(Text)

    __table_args__ = (
        Index("ix_caller_notes_number_at", "number", "at"),
        Index("ix_caller_notes_expires", "expires_at"),
    )


NOTES = NoteRow.__table__


class CallerNote(BaseModel):
    model_config = ConfigDict(frozen=True)
    call_id: str
    number: str
    persona: str
    at: float
    expires_at: float
    note: str


def other_party(call: ArchivedCall) -> str | None:
    """Who the call was with: the caller of an inbound call, the callee of an outbound one."""
    return call.caller_number if call.direction == "inbound" else call.called_number


def note_of(call: ArchivedCall) -> CallerNote | None:
    """The note to keep of `call`: None when its persona keeps none, or it has nothing to say."""
    record = call.record
    number = other_party(call)
    if record is None or record.memory_keep_days is None or not number:
        return None
    parts = [record.summary or ""]
    if fields := {k: v for k, v in record.extracted.items() if v is not None}:
        parts.append("Fields: " + ", ".join(f"{k}={v}" for k, v in fields.items()) + ".")
    text = " ".join(p for p in parts if p).strip()
    if not text:
        return None
    return CallerNote(
        call_id=call.call_id,
        number=number,
        persona=call.persona,
        at=call.ended_at,
        expires_at=call.ended_at + record.memory_keep_days * DAY_S,
        note=text[:MAX_NOTE_CHARS],
    )


async def remember(engine: AsyncEngine, call: ArchivedCall) -> bool:
    """Keep (or replace) the note of an archived call; False when there is none to keep."""
    note = note_of(call)
    if note is None:
        return False
    async with engine.begin() as conn:
        await conn.execute(delete(NOTES).where(NOTES.c.call_id == call.call_id))
        await conn.execute(insert(NOTES).values(note.model_dump()))
    return True


async def recall(
    engine: AsyncEngine, number: str, *, now: float | None = None, limit: int = RECALLED
) -> list[CallerNote]:
    """The unexpired notes on `number`, newest first."""
    query = (
        select(NOTES)
        .where(NOTES.c.number == number, NOTES.c.expires_at > (now or time.time()))
        .order_by(NOTES.c.at.desc())
        .limit(limit)
    )
    async with engine.connect() as conn:
        rows = (await conn.execute(query)).mappings().all()
    return [CallerNote.model_validate(_fields(row)) for row in rows]


async def forget_number(engine: AsyncEngine, number: str) -> int:
    """Erase every note on `number`; how many."""
    async with engine.begin() as conn:
        gone = await conn.execute(delete(NOTES).where(NOTES.c.number == number))
    return int(gone.rowcount)


async def forget_expired(engine: AsyncEngine, *, now: float) -> int:
    """Erase the notes whose `keep_days` ran out; how many."""
    async with engine.begin() as conn:
        gone = await conn.execute(delete(NOTES).where(NOTES.c.expires_at <= now))
    return int(gone.rowcount)


def as_prompt(notes: Sequence[CallerNote]) -> str:
    """The notes as `{caller_memory}` reads: one line per earlier call, newest first."""
    return "\n".join(
        f"- {time.strftime('%Y-%m-%d', time.gmtime(n.at))} ({n.persona}): {n.note}" for n in notes
    )


def _fields(row: Any) -> dict[str, Any]:
    return {name: row[name] for name in CallerNote.model_fields}
