"""schedule claim indexes, the fire time of scheduled runs

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30 01:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import syncd.store.types

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_FREE = "state = 'ACTIVE' AND lease_owner IS NULL"
_LEASED = "lease_owner IS NOT NULL"


def upgrade() -> None:
    with op.batch_alter_table("sync_runs", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("scheduled_for", syncd.store.types.UTCDateTime(timezone=True), nullable=True)
        )
    with op.batch_alter_table("schedules", schema=None) as batch_op:
        batch_op.create_index(
            "ix_schedules_free_next_run_at",
            ["next_run_at"],
            unique=False,
            postgresql_where=sa.text(_FREE),
            sqlite_where=sa.text(_FREE),
        )
        batch_op.create_index(
            "ix_schedules_leased",
            ["integration_id", "lease_expires_at"],
            unique=False,
            postgresql_where=sa.text(_LEASED),
            sqlite_where=sa.text(_LEASED),
        )


def downgrade() -> None:
    with op.batch_alter_table("schedules", schema=None) as batch_op:
        batch_op.drop_index("ix_schedules_leased")
        batch_op.drop_index("ix_schedules_free_next_run_at")
    with op.batch_alter_table("sync_runs", schema=None) as batch_op:
        batch_op.drop_column("scheduled_for")
