"""full unified model: every reference field of the first-wave models

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 09:00:00.000000
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

# JSONB on PostgreSQL, JSON text on SQLite: what syncd.store.types.JSONType is.
_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")

# The columns this revision adds, written out (not read from syncd.models) so
# the revision stays what it was when the model grows again. All nullable:
# existing rows simply have no value until their next sync.
_NEW_COLUMNS: dict[str, tuple[tuple[str, Any], ...]] = {
    "properties": (
        ("manager_phone_2", sa.String()),
        ("manager_phone_2_type", sa.String()),
        ("long_description", sa.Text()),
        ("short_description", sa.Text()),
        ("x_building_id", sa.String()),
        ("building_number", sa.String()),
        ("office_hours", _JSON),
        ("pet_types", _JSON),
    ),
    "floor_plans": (
        ("x_location_id", sa.String()),
        ("description", sa.Text()),
        ("bathrooms_full", sa.Integer()),
        ("bathrooms_half", sa.Integer()),
        ("max_occupants", sa.Integer()),
        ("gross_square_feet", sa.Integer()),
        ("deposit_amount_in_cents", sa.BigInteger()),
        ("deposit_amount_raw", sa.String()),
        ("deposit_amount_min_in_cents", sa.BigInteger()),
        ("deposit_amount_min_raw", sa.String()),
        ("deposit_amount_max_in_cents", sa.BigInteger()),
        ("deposit_amount_max_raw", sa.String()),
        ("image_urls", _JSON),
    ),
    "units": (
        ("floor_plan_code", sa.String()),
        ("x_unit_type_id", sa.String()),
        ("building_number", sa.String()),
        ("bathrooms_full", sa.Integer()),
        ("bathrooms_half", sa.Integer()),
        ("is_furnished", sa.Boolean()),
        ("rent_amount_min_in_cents", sa.BigInteger()),
        ("rent_amount_max_in_cents", sa.BigInteger()),
        ("pets_allowed", sa.Boolean()),
        ("dogs_allowed", sa.Boolean()),
        ("cats_allowed", sa.Boolean()),
        ("pet_policy", sa.Text()),
    ),
    "residents": (
        ("is_employee", sa.Boolean()),
        ("late_balance_in_cents", sa.BigInteger()),
        ("pets", _JSON),
        ("vehicles", _JSON),
    ),
    "leases": (
        ("application_date", sa.Date()),
        ("signature_date", sa.Date()),
        ("scheduled_move_in_date", sa.Date()),
        ("realized_move_in_date", sa.Date()),
        ("realized_move_out_date", sa.Date()),
        ("rent_amount_market_in_cents", sa.BigInteger()),
        ("rent_due_date", sa.Date()),
        ("deposit_amount", sa.String()),
        ("deposit_date", sa.Date()),
        ("balance_amount_in_cents", sa.BigInteger()),
        ("balance_amount_raw", sa.String()),
        ("past_due_balance_in_cents", sa.BigInteger()),
        ("past_due_balance_raw", sa.String()),
        ("write_off_amount_in_cents", sa.BigInteger()),
        ("write_off_amount_raw", sa.String()),
        ("services", _JSON),
    ),
    "lead_sources": (("x_location_id", sa.String()),),
    "leads": (
        ("x_unit_id_preferred", _JSON),
        ("unit_id_preferred", _JSON),
        ("ils", sa.String()),
        ("x_leasing_agent_id", sa.String()),
        ("leasing_agent_id", sa.Uuid()),
        ("leasing_agent", sa.String()),
        ("x_guestcard_id", sa.String()),
        ("middle_name", sa.String()),
        ("date_of_birth", sa.Date()),
        ("email_2", sa.String()),
        ("address_1", sa.String()),
        ("address_2", sa.String()),
        ("city", sa.String()),
        ("state", sa.String()),
        ("zip", sa.String()),
        ("country", sa.String()),
        ("number_of_occupants", sa.Integer()),
        ("desired_num_bedrooms", sa.Integer()),
        ("desired_num_bathrooms", sa.Float()),
        ("desired_min_square_ft", sa.Integer()),
        ("desired_max_square_ft", sa.Integer()),
        ("desired_min_rent_in_cents", sa.BigInteger()),
        ("desired_max_rent_in_cents", sa.BigInteger()),
        ("desired_lease_term_in_months", sa.String()),
        ("desired_floor_plan_id", sa.String()),
        ("desired_floor_plan_name", sa.String()),
        ("desired_unit_number", sa.String()),
        ("desired_unit_type", sa.String()),
        ("desired_amenities", sa.Text()),
        ("pets", _JSON),
        ("screenings", _JSON),
    ),
    "employees": (("x_location_id", sa.String()),),
}


def upgrade() -> None:
    for table, columns in _NEW_COLUMNS.items():
        with op.batch_alter_table(table, schema=None) as batch_op:
            for name, type_ in columns:
                batch_op.add_column(sa.Column(name, type_, nullable=True))


def downgrade() -> None:
    for table, columns in reversed(_NEW_COLUMNS.items()):
        with op.batch_alter_table(table, schema=None) as batch_op:
            for name, _type in reversed(columns):
                batch_op.drop_column(name)
