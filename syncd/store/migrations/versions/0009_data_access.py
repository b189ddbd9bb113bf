"""Data-access checks: one row per integration, claimed atomically, with the last results

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-10 09:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import syncd.store.types

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def _ts(name: str, *, nullable: bool) -> sa.Column[object]:
    return sa.Column(name, syncd.store.types.UTCDateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "data_access_checks",
        sa.Column("integration_id", sa.String(length=64), nullable=False),
        _ts("integration_created_at", nullable=False),
        sa.Column("running", sa.Boolean(), nullable=False),
        sa.Column("claim", sa.String(length=36), nullable=False),
        _ts("started_at", nullable=False),
        _ts("lease_until", nullable=False),
        _ts("finished_at", nullable=True),
        sa.Column("results", _JSON, nullable=False),
        sa.PrimaryKeyConstraint("integration_id", name=op.f("pk_data_access_checks")),
    )


def downgrade() -> None:
    op.drop_table("data_access_checks")
