"""change event payloads and sweep bookkeeping

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 09:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import syncd.store.types

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("change_events", schema=None) as batch_op:
        batch_op.alter_column("model", existing_type=sa.String(length=64), nullable=True)
        batch_op.alter_column("record_id", existing_type=sa.Uuid(), nullable=True)
        batch_op.alter_column("x_id", existing_type=sa.String(length=128), nullable=True)
        batch_op.add_column(
            sa.Column(
                "payload",
                sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
                nullable=True,
            )
        )
        batch_op.create_index(
            batch_op.f("ix_change_events_created_at"), ["created_at"], unique=False
        )

    with op.batch_alter_table("sync_runs", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("window_since", syncd.store.types.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(
            sa.Column("window_until", syncd.store.types.UTCDateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("sync_runs", schema=None) as batch_op:
        batch_op.drop_column("window_until")
        batch_op.drop_column("window_since")

    # Lifecycle events carry no record; they cannot survive the NOT NULL columns.
    op.execute("DELETE FROM change_events WHERE model IS NULL OR record_id IS NULL OR x_id IS NULL")
    with op.batch_alter_table("change_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_change_events_created_at"))
        batch_op.drop_column("payload")
        batch_op.alter_column("x_id", existing_type=sa.String(length=128), nullable=False)
        batch_op.alter_column("record_id", existing_type=sa.Uuid(), nullable=False)
        batch_op.alter_column("model", existing_type=sa.String(length=64), nullable=False)
