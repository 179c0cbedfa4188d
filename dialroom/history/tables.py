"""The history's tables, as SQLAlchemy 2 models. Changing one needs a migration too.

A call is one row of `calls`: the columns a listing filters and sorts on, and the whole call
(record, request, status history) as JSON in `body`. Each agent reply's voice-to-voice time is
one row of `call_turns`, so latency percentiles read two small columns, not every call's JSON.
Times are unix seconds (floats), as everywhere else in Dialroom.
"""

from __future__ import annotations

from sqlalchemy import Boolean, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class CallRow(Base):
    __tablename__ = "calls"

    call_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    direction: Mapped[str] = mapped_column(String(16))
    persona: Mapped[str] = mapped_column(String(64))
    status: Mapped[str | None] = mapped_column(String(16))  # outbound: the final status
    outcome: Mapped[str] = mapped_column(String(64))
    campaign_id: Mapped[str | None] = mapped_column(String(64))
    caller_number: Mapped[str | None] = mapped_column(String(32))
    called_number: Mapped[str | None] = mapped_column(String(32))
    started_at: Mapped[float] = mapped_column(Float)
    ended_at: Mapped[float] = mapped_column(Float)
    body: Mapped[str] = mapped_column(Text)  # the ArchivedCall, JSON
    has_recording: Mapped[bool] = mapped_column(Boolean, default=False)  # migration 0002
    trunk: Mapped[str | None] = mapped_column(String(64))  # migration 0004
    caller_tail: Mapped[str | None] = mapped_column(String(4))  # last 4 digits; migration 0006
    called_tail: Mapped[str | None] = mapped_column(String(4))

    __table_args__ = (
        Index("ix_calls_started", "started_at", "call_id"),
        Index("ix_calls_ended", "ended_at"),
        Index("ix_calls_persona_started", "persona", "started_at"),
        Index("ix_calls_outcome_started", "outcome", "started_at"),
        Index("ix_calls_campaign_started", "campaign_id", "started_at"),  # migration 0007
        Index("ix_calls_recording_started", "has_recording", "started_at"),
        Index("ix_calls_trunk_started", "trunk", "started_at"),
        Index("ix_calls_caller_tail_started", "caller_tail", "started_at"),
        Index("ix_calls_called_tail_started", "called_tail", "started_at"),
        # migration 0005: the last-digits search tests numbers in the index, not the row
        Index(
            "ix_calls_started_numbers", "started_at", "call_id", "caller_number", "called_number"
        ),
    )


class TurnRow(Base):
    __tablename__ = "call_turns"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    call_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("calls.call_id", ondelete="CASCADE"), index=True
    )
    persona: Mapped[str] = mapped_column(String(64))
    at: Mapped[float] = mapped_column(Float, index=True)
    voice_to_voice_s: Mapped[float] = mapped_column(Float)
