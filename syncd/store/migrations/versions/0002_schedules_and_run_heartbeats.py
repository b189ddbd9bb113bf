"""schedules and run heartbeats

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 20:02:52.368363
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import syncd.store.types

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "schedules",
        sa.Column("integration_id", sa.String(length=64), nullable=False),
        sa.Column("job", sa.String(length=64), nullable=False),
        sa.Column(
            "trigger",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("next_run_at", syncd.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_run_at", syncd.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("lease_owner", sa.String(length=128), nullable=True),
        sa.Column("lease_expires_at", syncd.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("updated_at", syncd.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("integration_id", "job", name=op.f("pk_schedules")),
    )
    with op.batch_alter_table("schedules", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_schedules_state_next_run_at"), ["state", "next_run_at"], unique=False
        )

    with op.batch_alter_table("sync_runs", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("heartbeat_at", syncd.store.types.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.create_index(
            "uq_sync_runs_one_running",
            ["integration_id", "model"],
            unique=True,
            postgresql_where=sa.text("status = 'RUNNING' AND model IS NOT NULL"),
            sqlite_where=sa.text("status = 'RUNNING' AND model IS NOT NULL"),
        )


def downgrade() -> None:

    with op.batch_alter_table("sync_runs", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_sync_runs_one_running",
            postgresql_where=sa.text("status = 'RUNNING' AND model IS NOT NULL"),
            sqlite_where=sa.text("status = 'RUNNING' AND model IS NOT NULL"),
        )
        batch_op.drop_column("heartbeat_at")

    with op.batch_alter_table("schedules", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_schedules_state_next_run_at"))

    op.drop_table("schedules")
