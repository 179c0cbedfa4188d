"""Returning callers: a note of a call on the other party's number (persona `memory:`),
erased with its call.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "caller_notes",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column(
            "call_id",
            sa.String(64),
            sa.ForeignKey("calls.call_id", ondelete="CASCADE"),
            nullable=False,
            unique=True,
        ),
        sa.Column("number", sa.String(32), nullable=False),
        sa.Column("persona", sa.String(64), nullable=False),
        sa.Column("at", sa.Float, nullable=False),
        sa.Column("expires_at", sa.Float, nullable=False),
        sa.Column("note", sa.Text, nullable=False),
    )
    op.create_index("ix_caller_notes_number_at", "caller_notes", ["number", "at"])
    op.create_index("ix_caller_notes_expires", "caller_notes", ["expires_at"])


def downgrade() -> None:
    op.drop_table("caller_notes")
