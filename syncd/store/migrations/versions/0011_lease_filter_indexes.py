"""Indexes for leases' common filtered and ordered lists

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03 06:30:00.000000
"""

from __future__ import annotations

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A status filter in the default order (newest first), and any filter of
    # one integration ordered by start date: the planner walks the order's
    # index and filters as it goes instead of sorting every match.
    op.create_index(
        "ix_leases_integration_id_status_normalized_created_at_id",
        "leases",
        ["integration_id", "status_normalized", "created_at", "id"],
    )
    op.create_index(
        "ix_leases_integration_id_start_date_id", "leases", ["integration_id", "start_date", "id"]
    )


def downgrade() -> None:
    op.drop_index("ix_leases_integration_id_start_date_id", table_name="leases")
    op.drop_index("ix_leases_integration_id_status_normalized_created_at_id", table_name="leases")
