"""Write jobs: creates and updates carried to the PMS, claimed like schedules

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03 07:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import syncd.store.types

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def _ts(name: str, *, nullable: bool) -> sa.Column[object]:
    return sa.Column(name, syncd.store.types.UTCDateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "write_jobs",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("integration_id", sa.String(length=64), nullable=False),
        sa.Column("vendor", sa.String(length=32), nullable=False),
        sa.Column("model", sa.String(length=32), nullable=False),
        sa.Column("operation", sa.String(length=16), nullable=False),
        sa.Column("record_id", sa.Uuid(), nullable=True),
        sa.Column("x_id", sa.String(length=128), nullable=True),
        sa.Column("property_x_id", sa.String(length=128), nullable=True),
        sa.Column("payload", _JSON, nullable=False),
        sa.Column("pms_payload", _JSON, nullable=False),
        sa.Column("stripped_fields", _JSON, nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        _ts("next_attempt_at", nullable=False),
        sa.Column("lease_owner", sa.String(length=128), nullable=True),
        _ts("lease_until", nullable=True),
        _ts("sent_at", nullable=True),
        sa.Column("errors", _JSON, nullable=False),
        sa.Column("created_x_id", sa.String(length=128), nullable=True),
        sa.Column("created_record_id", sa.Uuid(), nullable=True),
        sa.Column("idempotency_key", sa.String(length=255), nullable=True),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("retry_of", sa.String(length=36), nullable=True),
        _ts("created_at", nullable=False),
        _ts("updated_at", nullable=False),
        _ts("finished_at", nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_write_jobs")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_write_jobs_idempotency_key")),
    )
    op.create_index(
        "ix_write_jobs_status_next_attempt_at", "write_jobs", ["status", "next_attempt_at"]
    )
    op.create_index(
        "ix_write_jobs_integration_id_created_at", "write_jobs", ["integration_id", "created_at"]
    )
    op.create_index("ix_write_jobs_created_at", "write_jobs", ["created_at"])


def downgrade() -> None:
    op.drop_table("write_jobs")
