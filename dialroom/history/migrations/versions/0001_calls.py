"""The call history: calls and their agent replies' voice-to-voice times.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "calls",
        sa.Column("call_id", sa.String(64), primary_key=True),
        sa.Column("direction", sa.String(16), nullable=False),
        sa.Column("persona", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=True),
        sa.Column("outcome", sa.String(64), nullable=False),
        sa.Column("campaign_id", sa.String(64), nullable=True),
        sa.Column("caller_number", sa.String(32), nullable=True),
        sa.Column("called_number", sa.String(32), nullable=True),
        sa.Column("started_at", sa.Float, nullable=False),
        sa.Column("ended_at", sa.Float, nullable=False),
        sa.Column("body", sa.Text, nullable=False),
    )
    op.create_index("ix_calls_started", "calls", ["started_at", "call_id"])
    op.create_index("ix_calls_ended", "calls", ["ended_at"])
    op.create_index("ix_calls_persona_started", "calls", ["persona", "started_at"])
    op.create_index("ix_calls_outcome_started", "calls", ["outcome", "started_at"])
    op.create_index("ix_calls_campaign", "calls", ["campaign_id"])
    op.create_table(
        "call_turns",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column(
            "call_id",
            sa.String(64),
            sa.ForeignKey("calls.call_id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("persona", sa.String(64), nullable=False),
        sa.Column("at", sa.Float, nullable=False),
        sa.Column("voice_to_voice_s", sa.Float, nullable=False),
    )
    op.create_index("ix_call_turns_call_id", "call_turns", ["call_id"])
    op.create_index("ix_call_turns_at", "call_turns", ["at"])


def downgrade() -> None:
    op.drop_table("call_turns")
    op.drop_table("calls")
