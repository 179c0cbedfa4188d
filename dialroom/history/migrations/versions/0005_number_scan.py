"""An index the search by a number's last digits scans instead of the table.

`number=4567` matches `caller_number LIKE '%4567'` or `called_number LIKE ...`: no B-tree can
seek a suffix, so the listing walks calls newest first until its page is full. Through
`ix_calls_started` each step reads the whole row (the call's JSON); this index holds the two
numbers beside the sort key, so SQLite tests them in the index and reads only the matching
rows (100,000 calls: 140 ms to 13 ms a page, `bench/README.md`, "Call history listing").

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

COLUMNS = ["started_at", "call_id", "caller_number", "called_number"]


def upgrade() -> None:
    op.create_index("ix_calls_started_numbers", "calls", COLUMNS)


def downgrade() -> None:
    op.drop_index("ix_calls_started_numbers", table_name="calls")
