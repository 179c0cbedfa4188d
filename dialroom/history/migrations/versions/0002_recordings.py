"""Calls with a recording: a column the `has_recording` filter reads (the recording itself is
named in the call's JSON body).

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "calls",
        sa.Column("has_recording", sa.Boolean, nullable=False, server_default=sa.false()),
    )
    op.create_index("ix_calls_recording_started", "calls", ["has_recording", "started_at"])


def downgrade() -> None:
    op.drop_index("ix_calls_recording_started", table_name="calls")
    with op.batch_alter_table("calls") as batch:
        batch.drop_column("has_recording")
