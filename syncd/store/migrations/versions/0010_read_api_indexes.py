"""Indexes for the read API: each model's default order, and leases' residents

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 06:00:00.000000
"""

from __future__ import annotations

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

# Written out (not read from syncd.models): a migration must not change when
# the models do.
MODELS = (
    "properties",
    "units",
    "floor_plans",
    "residents",
    "leases",
    "leads",
    "lead_sources",
    "employees",
)
LINK_MODEL = "residents_to_leases"


def upgrade() -> None:
    for table in MODELS:
        op.create_index(f"ix_{table}_created_at_id", table, ["created_at", "id"])
        op.create_index(
            f"ix_{table}_integration_id_created_at_id",
            table,
            ["integration_id", "created_at", "id"],
        )
    op.create_index(f"ix_{LINK_MODEL}_lease_id", LINK_MODEL, ["lease_id"])


def downgrade() -> None:
    op.drop_index(f"ix_{LINK_MODEL}_lease_id", table_name=LINK_MODEL)
    for table in MODELS:
        op.drop_index(f"ix_{table}_integration_id_created_at_id", table_name=table)
        op.drop_index(f"ix_{table}_created_at_id", table_name=table)
