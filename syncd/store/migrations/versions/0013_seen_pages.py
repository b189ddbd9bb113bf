"""Seen pages: the x_ids a run saw without rewriting their rows

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03 13:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import syncd.store.types

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "seen_pages",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("run_id", sa.String(length=36), nullable=False),
        sa.Column("integration_id", sa.String(length=64), nullable=False),
        sa.Column("model", sa.String(length=64), nullable=False),
        sa.Column("seen_at", syncd.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column(
            "x_ids",
            sa.Text().with_variant(postgresql.ARRAY(sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_seen_pages")),
    )
    op.create_index("ix_seen_pages_run_id", "seen_pages", ["run_id"])
    op.create_index("ix_seen_pages_integration_id_model", "seen_pages", ["integration_id", "model"])


def downgrade() -> None:
    op.drop_table("seen_pages")
