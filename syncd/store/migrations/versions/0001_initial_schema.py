"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-23 19:31:49.114646
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import syncd.store.types

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "change_events",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("integration_id", sa.String(length=64), nullable=False),
        sa.Column("integration_vendor", sa.String(length=32), nullable=False),
        sa.Column("model", sa.String(length=64), nullable=False),
        sa.Column("record_id", sa.Uuid(), nullable=False),
        sa.Column("x_id", sa.String(length=128), nullable=False),
        sa.Column("event_type", sa.String(length=32), nullable=False),
        sa.Column("run_id", sa.String(length=36), nullable=True),
        sa.Column(
            "diff",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("created_at", syncd.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_change_events")),
    )
    with op.batch_alter_table("change_events", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_change_events_integration_id_id"), ["integration_id", "id"], unique=False
        )

    op.create_table(
        "checkpoints",
        sa.Column("integration_id", sa.String(length=64), nullable=False),
        sa.Column("model", sa.String(length=64), nullable=False),
        sa.Column("watermark", syncd.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("cursor", sa.String(length=200), nullable=True),
        sa.Column("cursor_run_id", sa.String(length=36), nullable=True),
        sa.Column("cursor_mode", sa.String(length=16), nullable=True),
        sa.Column("window_since", syncd.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("window_until", syncd.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("updated_at", syncd.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("integration_id", "model", name=op.f("pk_checkpoints")),
    )
    op.create_table(
        "employees",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("integration_id", sa.String(length=64), nullable=False),
        sa.Column("integration_vendor", sa.String(length=32), nullable=False),
        sa.Column("x_id", sa.String(length=128), nullable=False),
        sa.Column("x_property_id", sa.String(length=128), nullable=True),
        sa.Column("property_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", syncd.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", syncd.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_seen", syncd.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("deleted_at", syncd.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column(
            "custom_data",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("source_hash", sa.String(length=64), nullable=True),
        sa.Column("last_run_id", sa.String(length=36), nullable=True),
        sa.Column("name", sa.String(), nullable=True),
        sa.Column("first_name", sa.String(), nullable=True),
        sa.Column("last_name", sa.String(), nullable=True),
        sa.Column("email", sa.String(), nullable=True),
        sa.Column("phone_1", sa.String(), nullable=True),
        sa.Column("phone_1_type", sa.String(), nullable=True),
        sa.Column("is_active", sa.Boolean(), nullable=True),
        sa.Column(
            "roles",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_employees")),
        sa.UniqueConstraint(
            "integration_id", "x_id", name=op.f("uq_employees_integration_id_x_id")
        ),
    )
    with op.batch_alter_table("employees", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_employees_integration_id_property_id"),
            ["integration_id", "property_id"],
            unique=False,
        )

    op.create_table(
        "floor_plans",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("integration_id", sa.String(length=64), nullable=False),
        sa.Column("integration_vendor", sa.String(length=32), nullable=False),
        sa.Column("x_id", sa.String(length=128), nullable=False),
        sa.Column("x_property_id", sa.String(length=128), nullable=True),
        sa.Column("property_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", syncd.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", syncd.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_seen", syncd.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("deleted_at", syncd.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column(
            "custom_data",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("source_hash", sa.String(length=64), nullable=True),
        sa.Column("last_run_id", sa.String(length=36), nullable=True),
        sa.Column("name", sa.String(), nullable=True),
        sa.Column("marketing_name", sa.String(), nullable=True),
        sa.Column("code", sa.String(), nullable=True),
        sa.Column("bedrooms", sa.Integer(), nullable=True),
        sa.Column("bathrooms", sa.Float(), nullable=True),
        sa.Column("rentable_square_feet", sa.Integer(), nullable=True),
        sa.Column("rent_minimum_in_cents", sa.BigInteger(), nullable=True),
        sa.Column("rent_maximum_in_cents", sa.BigInteger(), nullable=True),
        sa.Column("unit_count", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_floor_plans")),
        sa.UniqueConstraint(
            "integration_id", "x_id", name=op.f("uq_floor_plans_integration_id_x_id")
        ),
    )
    with op.batch_alter_table("floor_plans", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_floor_plans_integration_id_property_id"),
            ["integration_id", "property_id"],
            unique=False,
        )

    op.create_table(
        "integrations",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("vendor", sa.String(length=32), nullable=False),
        sa.Column("environment", sa.String(length=16), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("base_url", sa.String(length=500), nullable=True),
        sa.Column("credentials", sa.Text(), nullable=False),
        sa.Column(
            "options",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("created_at", syncd.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", syncd.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_integrations")),
        sa.UniqueConstraint("name", name=op.f("uq_integrations_name")),
    )
    op.create_table(
        "lead_sources",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("integration_id", sa.String(length=64), nullable=False),
        sa.Column("integration_vendor", sa.String(length=32), nullable=False),
        sa.Column("x_id", sa.String(length=128), nullable=False),
        sa.Column("x_property_id", sa.String(length=128), nullable=True),
        sa.Column("property_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", syncd.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", syncd.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_seen", syncd.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("deleted_at", syncd.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column(
            "custom_data",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("source_hash", sa.String(length=64), nullable=True),
        sa.Column("last_run_id", sa.String(length=36), nullable=True),
        sa.Column("name", sa.String(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lead_sources")),
        sa.UniqueConstraint(
            "integration_id", "x_id", name=op.f("uq_lead_sources_integration_id_x_id")
        ),
    )
    with op.batch_alter_table("lead_sources", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_lead_sources_integration_id_property_id"),
            ["integration_id", "property_id"],
            unique=False,
        )

    op.create_table(
        "leads",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("integration_id", sa.String(length=64), nullable=False),
        sa.Column("integration_vendor", sa.String(length=32), nullable=False),
        sa.Column("x_id", sa.String(length=128), nullable=False),
        sa.Column("x_property_id", sa.String(length=128), nullable=True),
        sa.Column("property_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", syncd.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", syncd.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_seen", syncd.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("deleted_at", syncd.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column(
            "custom_data",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("source_hash", sa.String(length=64), nullable=True),
        sa.Column("last_run_id", sa.String(length=36), nullable=True),
        sa.Column("x_created_at", syncd.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("x_updated_at", syncd.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("x_unit_id", sa.String(), nullable=True),
        sa.Column("unit_id", sa.Uuid(), nullable=True),
        sa.Column("x_lead_source_id", sa.String(), nullable=True),
        sa.Column("lead_source_id", sa.Uuid(), nullable=True),
        sa.Column("lead_source", sa.String(), nullable=True),
        sa.Column("first_name", sa.String(), nullable=True),
        sa.Column("last_name", sa.String(), nullable=True),
        sa.Column("email_1", sa.String(), nullable=True),
        sa.Column("phone_1", sa.String(), nullable=True),
        sa.Column("phone_1_type", sa.String(), nullable=True),
        sa.Column("phone_2", sa.String(), nullable=True),
        sa.Column("phone_2_type", sa.String(), nullable=True),
        sa.Column("status", sa.String(), nullable=True),
        sa.Column("target_move_in_date", sa.Date(), nullable=True),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_leads")),
        sa.UniqueConstraint("integration_id", "x_id", name=op.f("uq_leads_integration_id_x_id")),
    )
    with op.batch_alter_table("leads", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_leads_integration_id_property_id"),
            ["integration_id", "property_id"],
            unique=False,
        )

    op.create_table(
        "leases",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("integration_id", sa.String(length=64), nullable=False),
        sa.Column("integration_vendor", sa.String(length=32), nullable=False),
        sa.Column("x_id", sa.String(length=128), nullable=False),
        sa.Column("x_property_id", sa.String(length=128), nullable=True),
        sa.Column("property_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", syncd.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", syncd.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_seen", syncd.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("deleted_at", syncd.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column(
            "custom_data",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("source_hash", sa.String(length=64), nullable=True),
        sa.Column("last_run_id", sa.String(length=36), nullable=True),
        sa.Column("x_created_at", syncd.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("x_updated_at", syncd.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("x_unit_id", sa.String(), nullable=True),
        sa.Column("unit_id", sa.Uuid(), nullable=True),
        sa.Column("unit_number", sa.String(), nullable=True),
        sa.Column("start_date", sa.Date(), nullable=True),
        sa.Column("end_date", sa.Date(), nullable=True),
        sa.Column("scheduled_move_out_date", sa.Date(), nullable=True),
        sa.Column("rent_amount_in_cents", sa.BigInteger(), nullable=True),
        sa.Column("deposit_amount_in_cents", sa.BigInteger(), nullable=True),
        sa.Column("rent_due_day", sa.Integer(), nullable=True),
        sa.Column("status_raw", sa.String(), nullable=True),
        sa.Column("status_normalized", sa.String(), nullable=True),
        sa.Column("type", sa.String(), nullable=True),
        sa.Column("term", sa.String(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_leases")),
        sa.UniqueConstraint("integration_id", "x_id", name=op.f("uq_leases_integration_id_x_id")),
    )
    with op.batch_alter_table("leases", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_leases_integration_id_property_id"),
            ["integration_id", "property_id"],
            unique=False,
        )

    op.create_table(
        "properties",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("integration_id", sa.String(length=64), nullable=False),
        sa.Column("integration_vendor", sa.String(length=32), nullable=False),
        sa.Column("x_id", sa.String(length=128), nullable=False),
        sa.Column("x_property_id", sa.String(length=128), nullable=True),
        sa.Column("property_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", syncd.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", syncd.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_seen", syncd.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("deleted_at", syncd.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column(
            "custom_data",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("source_hash", sa.String(length=64), nullable=True),
        sa.Column("last_run_id", sa.String(length=36), nullable=True),
        sa.Column("x_created_at", syncd.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("name", sa.String(), nullable=True),
        sa.Column("code", sa.String(), nullable=True),
        sa.Column("address_1", sa.String(), nullable=True),
        sa.Column("address_2", sa.String(), nullable=True),
        sa.Column("city", sa.String(), nullable=True),
        sa.Column("state", sa.String(), nullable=True),
        sa.Column("zip", sa.String(), nullable=True),
        sa.Column("country", sa.String(), nullable=True),
        sa.Column("county", sa.String(), nullable=True),
        sa.Column("is_active", sa.Boolean(), nullable=True),
        sa.Column("number_of_units", sa.Integer(), nullable=True),
        sa.Column("year_built", sa.Integer(), nullable=True),
        sa.Column("square_feet", sa.Integer(), nullable=True),
        sa.Column("type_raw", sa.String(), nullable=True),
        sa.Column("type_normalized", sa.String(), nullable=True),
        sa.Column("manager_name", sa.String(), nullable=True),
        sa.Column("manager_email", sa.String(), nullable=True),
        sa.Column("manager_phone_1", sa.String(), nullable=True),
        sa.Column("manager_phone_1_type", sa.String(), nullable=True),
        sa.Column("website", sa.String(), nullable=True),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_properties")),
        sa.UniqueConstraint(
            "integration_id", "x_id", name=op.f("uq_properties_integration_id_x_id")
        ),
    )
    with op.batch_alter_table("properties", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_properties_integration_id_property_id"),
            ["integration_id", "property_id"],
            unique=False,
        )

    op.create_table(
        "quarantine",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("integration_id", sa.String(length=64), nullable=False),
        sa.Column("model", sa.String(length=64), nullable=False),
        sa.Column("x_id", sa.String(length=128), nullable=True),
        sa.Column("run_id", sa.String(length=36), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column(
            "raw",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("created_at", syncd.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_quarantine")),
    )
    with op.batch_alter_table("quarantine", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_quarantine_integration_id_model_x_id"),
            ["integration_id", "model", "x_id"],
            unique=False,
        )

    op.create_table(
        "residents",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("integration_id", sa.String(length=64), nullable=False),
        sa.Column("integration_vendor", sa.String(length=32), nullable=False),
        sa.Column("x_id", sa.String(length=128), nullable=False),
        sa.Column("x_property_id", sa.String(length=128), nullable=True),
        sa.Column("property_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", syncd.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", syncd.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_seen", syncd.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("deleted_at", syncd.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column(
            "custom_data",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("source_hash", sa.String(length=64), nullable=True),
        sa.Column("last_run_id", sa.String(length=36), nullable=True),
        sa.Column("x_created_at", syncd.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("first_name", sa.String(), nullable=True),
        sa.Column("middle_name", sa.String(), nullable=True),
        sa.Column("last_name", sa.String(), nullable=True),
        sa.Column("date_of_birth", sa.Date(), nullable=True),
        sa.Column("email_1", sa.String(), nullable=True),
        sa.Column("email_2", sa.String(), nullable=True),
        sa.Column("phone_1", sa.String(), nullable=True),
        sa.Column("phone_1_type", sa.String(), nullable=True),
        sa.Column("phone_2", sa.String(), nullable=True),
        sa.Column("phone_2_type", sa.String(), nullable=True),
        sa.Column("address_1", sa.String(), nullable=True),
        sa.Column("address_2", sa.String(), nullable=True),
        sa.Column("city", sa.String(), nullable=True),
        sa.Column("state", sa.String(), nullable=True),
        sa.Column("zip", sa.String(), nullable=True),
        sa.Column("country", sa.String(), nullable=True),
        sa.Column("address_1_alternate", sa.String(), nullable=True),
        sa.Column("address_2_alternate", sa.String(), nullable=True),
        sa.Column("city_alternate", sa.String(), nullable=True),
        sa.Column("state_alternate", sa.String(), nullable=True),
        sa.Column("zip_alternate", sa.String(), nullable=True),
        sa.Column("country_alternate", sa.String(), nullable=True),
        sa.Column("balance_in_cents", sa.BigInteger(), nullable=True),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_residents")),
        sa.UniqueConstraint(
            "integration_id", "x_id", name=op.f("uq_residents_integration_id_x_id")
        ),
    )
    with op.batch_alter_table("residents", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_residents_integration_id_property_id"),
            ["integration_id", "property_id"],
            unique=False,
        )

    op.create_table(
        "residents_to_leases",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("integration_id", sa.String(length=64), nullable=False),
        sa.Column("integration_vendor", sa.String(length=32), nullable=False),
        sa.Column("lease_id", sa.Uuid(), nullable=False),
        sa.Column("resident_id", sa.Uuid(), nullable=False),
        sa.Column("x_lease_id", sa.String(), nullable=True),
        sa.Column("x_resident_id", sa.String(), nullable=True),
        sa.Column("resident_type_raw", sa.String(), nullable=True),
        sa.Column("resident_type_normalized", sa.String(), nullable=True),
        sa.Column("status_raw", sa.String(), nullable=True),
        sa.Column("move_in_date", sa.Date(), nullable=True),
        sa.Column("move_out_date", sa.Date(), nullable=True),
        sa.Column("created_at", syncd.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", syncd.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_seen", syncd.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_residents_to_leases")),
        sa.UniqueConstraint(
            "integration_id",
            "x_lease_id",
            "x_resident_id",
            name=op.f("uq_residents_to_leases_integration_id_x_lease_id_x_resident_id"),
        ),
    )
    with op.batch_alter_table("residents_to_leases", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_residents_to_leases_resident_id"), ["resident_id"], unique=False
        )

    op.create_table(
        "sync_runs",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("root_run_id", sa.String(length=36), nullable=True),
        sa.Column("parent_run_id", sa.String(length=36), nullable=True),
        sa.Column("integration_id", sa.String(length=64), nullable=False),
        sa.Column("vendor", sa.String(length=32), nullable=False),
        sa.Column("model", sa.String(length=64), nullable=True),
        sa.Column("mode", sa.String(length=16), nullable=False),
        sa.Column("trigger", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("started_at", syncd.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("ended_at", syncd.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("fetched", sa.Integer(), nullable=False),
        sa.Column("created", sa.Integer(), nullable=False),
        sa.Column("updated", sa.Integer(), nullable=False),
        sa.Column("unchanged", sa.Integer(), nullable=False),
        sa.Column("deleted", sa.Integer(), nullable=False),
        sa.Column("quarantined", sa.Integer(), nullable=False),
        sa.Column("requests", sa.Integer(), nullable=False),
        sa.Column("retries", sa.Integer(), nullable=False),
        sa.Column("records_processed", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sync_runs")),
    )
    with op.batch_alter_table("sync_runs", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_sync_runs_integration_id_started_at"),
            ["integration_id", "started_at"],
            unique=False,
        )
        batch_op.create_index(batch_op.f("ix_sync_runs_root_run_id"), ["root_run_id"], unique=False)

    op.create_table(
        "units",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("integration_id", sa.String(length=64), nullable=False),
        sa.Column("integration_vendor", sa.String(length=32), nullable=False),
        sa.Column("x_id", sa.String(length=128), nullable=False),
        sa.Column("x_property_id", sa.String(length=128), nullable=True),
        sa.Column("property_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", syncd.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", syncd.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_seen", syncd.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("deleted_at", syncd.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column(
            "custom_data",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("source_hash", sa.String(length=64), nullable=True),
        sa.Column("last_run_id", sa.String(length=36), nullable=True),
        sa.Column("x_floor_plan_id", sa.String(), nullable=True),
        sa.Column("floor_plan_id", sa.Uuid(), nullable=True),
        sa.Column("floor_plan_name", sa.String(), nullable=True),
        sa.Column("number", sa.String(), nullable=True),
        sa.Column("building_name", sa.String(), nullable=True),
        sa.Column("floor", sa.String(), nullable=True),
        sa.Column("bedrooms", sa.Integer(), nullable=True),
        sa.Column("bathrooms", sa.Float(), nullable=True),
        sa.Column("square_feet", sa.Integer(), nullable=True),
        sa.Column("address_1", sa.String(), nullable=True),
        sa.Column("address_2", sa.String(), nullable=True),
        sa.Column("city", sa.String(), nullable=True),
        sa.Column("state", sa.String(), nullable=True),
        sa.Column("zip", sa.String(), nullable=True),
        sa.Column("country", sa.String(), nullable=True),
        sa.Column("is_vacant", sa.Boolean(), nullable=True),
        sa.Column("is_listed", sa.Boolean(), nullable=True),
        sa.Column("is_available", sa.Boolean(), nullable=True),
        sa.Column("rent_amount_market_in_cents", sa.BigInteger(), nullable=True),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_units")),
        sa.UniqueConstraint("integration_id", "x_id", name=op.f("uq_units_integration_id_x_id")),
    )
    with op.batch_alter_table("units", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_units_integration_id_property_id"),
            ["integration_id", "property_id"],
            unique=False,
        )


def downgrade() -> None:

    with op.batch_alter_table("units", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_units_integration_id_property_id"))

    op.drop_table("units")
    with op.batch_alter_table("sync_runs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sync_runs_root_run_id"))
        batch_op.drop_index(batch_op.f("ix_sync_runs_integration_id_started_at"))

    op.drop_table("sync_runs")
    with op.batch_alter_table("residents_to_leases", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_residents_to_leases_resident_id"))

    op.drop_table("residents_to_leases")
    with op.batch_alter_table("residents", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_residents_integration_id_property_id"))

    op.drop_table("residents")
    with op.batch_alter_table("quarantine", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_quarantine_integration_id_model_x_id"))

    op.drop_table("quarantine")
    with op.batch_alter_table("properties", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_properties_integration_id_property_id"))

    op.drop_table("properties")
    with op.batch_alter_table("leases", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_leases_integration_id_property_id"))

    op.drop_table("leases")
    with op.batch_alter_table("leads", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_leads_integration_id_property_id"))

    op.drop_table("leads")
    with op.batch_alter_table("lead_sources", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_lead_sources_integration_id_property_id"))

    op.drop_table("lead_sources")
    op.drop_table("integrations")
    with op.batch_alter_table("floor_plans", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_floor_plans_integration_id_property_id"))

    op.drop_table("floor_plans")
    with op.batch_alter_table("employees", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_employees_integration_id_property_id"))

    op.drop_table("employees")
    op.drop_table("checkpoints")
    with op.batch_alter_table("change_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_change_events_integration_id_id"))

    op.drop_table("change_events")
