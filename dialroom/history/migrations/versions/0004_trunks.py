"""The SIP trunk of each call: a column the `trunk` filter and per-trunk stats read.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("calls", sa.Column("trunk", sa.String(64), nullable=True))
    op.create_index("ix_calls_trunk_started", "calls", ["trunk", "started_at"])


def downgrade() -> None:
    op.drop_index("ix_calls_trunk_started", table_name="calls")
    with op.batch_alter_table("calls") as batch:
        batch.drop_column("trunk")
