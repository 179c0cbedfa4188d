"""A campaign's calls indexed in start order: its page reads 20 rows, not the whole campaign.

Every other filter of `GET /api/calls` has an index (column, started_at), so its newest-first
page is a seek and a short walk. The campaign filter had only `campaign_id`: each page found
every call of the campaign, then sorted them for the newest 20, a cost that grows with the
campaign (`bench.call_history`, bench/README.md). (campaign_id, started_at) serves the page
and, as its prefix, everything the old index served.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_calls_campaign_started", "calls", ["campaign_id", "started_at"])
    op.drop_index("ix_calls_campaign", table_name="calls")


def downgrade() -> None:
    op.create_index("ix_calls_campaign", "calls", ["campaign_id"])
    op.drop_index("ix_calls_campaign_started", table_name="calls")
