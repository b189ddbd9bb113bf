"""The unified data model: which models exist and their typed columns.

This registry is the single source of truth for the cache tables (built from
it in :mod:`syncd.store.tables`) and for transform schemas (a schema may only
write columns declared here). Field names follow the reference unified API.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Final


class ColumnType(StrEnum):
    """Logical column types; the store maps them to SQL types per engine."""

    STRING = "string"  # short text (names, codes, enums)
    TEXT = "text"  # long free text
    INT = "int"
    BIGINT = "bigint"  # money in cents
    FLOAT = "float"
    BOOL = "bool"
    DATE = "date"
    DATETIME = "datetime"  # always UTC
    UUID = "uuid"  # a reference to another model's syncd id
    JSON = "json"  # arrays and objects


@dataclass(frozen=True, slots=True)
class Column:
    """One typed model column."""

    name: str
    type: ColumnType


@dataclass(frozen=True, slots=True)
class ModelDef:
    """A unified model: its table name and model-specific columns."""

    name: str
    columns: tuple[Column, ...]

    @property
    def column_names(self) -> frozenset[str]:
        """Names of the model-specific columns."""
        return frozenset(c.name for c in self.columns)


S, T, INT, B, F, BO, D, DT, U, J = (
    ColumnType.STRING,
    ColumnType.TEXT,
    ColumnType.INT,
    ColumnType.BIGINT,
    ColumnType.FLOAT,
    ColumnType.BOOL,
    ColumnType.DATE,
    ColumnType.DATETIME,
    ColumnType.UUID,
    ColumnType.JSON,
)


def _cols(*pairs: tuple[str, ColumnType]) -> tuple[Column, ...]:
    return tuple(Column(n, t) for n, t in pairs)


_ADDRESS = (
    ("address_1", S),
    ("address_2", S),
    ("city", S),
    ("state", S),
    ("zip", S),
    ("country", S),
)

#: Columns every model table has, maintained by the store, not by transforms
#: (except ``x_id``, ``x_property_id``, ``property_id`` and ``custom_data``,
#: which transforms fill).
COMMON_COLUMNS: Final = (
    "id",
    "x_id",
    "integration_id",
    "integration_vendor",
    "x_property_id",
    "property_id",
    "created_at",
    "updated_at",
    "last_seen",
    "deleted_at",
    "custom_data",
    "content_hash",
    "source_hash",
    "last_run_id",
)

MODELS: Final[dict[str, ModelDef]] = {
    m.name: m
    for m in (
        ModelDef(
            "properties",
            _cols(
                ("x_created_at", DT),
                ("name", S),
                ("code", S),
                *_ADDRESS,
                ("county", S),
                ("is_active", BO),
                ("number_of_units", INT),
                ("year_built", INT),
                ("square_feet", INT),
                ("type_raw", S),
                ("type_normalized", S),
                ("manager_name", S),
                ("manager_email", S),
                ("manager_phone_1", S),
                ("manager_phone_1_type", S),
                ("manager_phone_2", S),
                ("manager_phone_2_type", S),
                ("website", S),
                ("notes", T),
                ("long_description", T),
                ("short_description", T),
                # A building of the PMS, not necessarily the property: syncd
                # has no buildings model, so only the PMS id is kept.
                ("x_building_id", S),
                ("building_number", S),
                ("office_hours", J),  # [{day_of_week, open_time, close_time}]
                ("pet_types", J),  # [{name, is_allowed, deposit/fee/rent amounts...}]
            ),
        ),
        ModelDef(
            "units",
            _cols(
                ("x_floor_plan_id", S),
                ("floor_plan_id", U),
                ("floor_plan_name", S),
                ("floor_plan_code", S),
                # Unit types are no syncd model: the PMS id only.
                ("x_unit_type_id", S),
                ("number", S),
                ("building_name", S),
                ("building_number", S),
                ("floor", S),
                ("bedrooms", INT),
                ("bathrooms", F),
                ("bathrooms_full", INT),
                ("bathrooms_half", INT),
                ("square_feet", INT),
                *_ADDRESS,
                ("is_vacant", BO),
                ("is_listed", BO),
                ("is_available", BO),
                ("is_furnished", BO),
                ("rent_amount_market_in_cents", B),
                ("rent_amount_min_in_cents", B),
                ("rent_amount_max_in_cents", B),
                ("pets_allowed", BO),
                ("dogs_allowed", BO),
                ("cats_allowed", BO),
                ("pet_policy", T),
                ("notes", T),
            ),
        ),
        ModelDef(
            "floor_plans",
            _cols(
                # Rent Manager's location: no syncd model, the PMS id only.
                ("x_location_id", S),
                ("name", S),
                ("marketing_name", S),
                ("code", S),
                ("description", T),
                ("bedrooms", INT),
                ("bathrooms", F),
                ("bathrooms_full", INT),
                ("bathrooms_half", INT),
                ("max_occupants", INT),
                ("rentable_square_feet", INT),
                ("gross_square_feet", INT),
                ("rent_minimum_in_cents", B),
                ("rent_maximum_in_cents", B),
                # Deposits as cents, plus the PMS's own text where it may not
                # be a plain amount (a range, a formula).
                ("deposit_amount_in_cents", B),
                ("deposit_amount_raw", S),
                ("deposit_amount_min_in_cents", B),
                ("deposit_amount_min_raw", S),
                ("deposit_amount_max_in_cents", B),
                ("deposit_amount_max_raw", S),
                ("image_urls", J),
                ("unit_count", INT),
            ),
        ),
        ModelDef(
            "residents",
            _cols(
                ("x_created_at", DT),
                ("first_name", S),
                ("middle_name", S),
                ("last_name", S),
                ("date_of_birth", D),
                ("email_1", S),
                ("email_2", S),
                ("phone_1", S),
                ("phone_1_type", S),
                ("phone_2", S),
                ("phone_2_type", S),
                *_ADDRESS,
                ("address_1_alternate", S),
                ("address_2_alternate", S),
                ("city_alternate", S),
                ("state_alternate", S),
                ("zip_alternate", S),
                ("country_alternate", S),
                ("is_employee", BO),
                ("balance_in_cents", B),
                ("late_balance_in_cents", B),
                ("notes", T),
                ("pets", J),  # [{name, type, breed, weight_in_pounds...}]
                ("vehicles", J),  # [{make, model, color, year, license_plate_number...}]
            ),
        ),
        ModelDef(
            "leases",
            _cols(
                ("x_created_at", DT),
                ("x_updated_at", DT),
                ("x_unit_id", S),
                ("unit_id", U),
                ("unit_number", S),
                ("application_date", D),
                ("signature_date", D),
                ("start_date", D),
                ("end_date", D),
                # Lease-level move dates; each resident's own are on the link.
                ("scheduled_move_in_date", D),
                ("realized_move_in_date", D),
                ("scheduled_move_out_date", D),
                ("realized_move_out_date", D),
                ("rent_amount_in_cents", B),
                ("rent_amount_market_in_cents", B),
                ("rent_due_day", INT),
                ("rent_due_date", D),
                ("deposit_amount_in_cents", B),
                # The deposit as the PMS writes it (the reference's text field).
                ("deposit_amount", S),
                ("deposit_date", D),
                ("balance_amount_in_cents", B),
                ("balance_amount_raw", S),
                ("past_due_balance_in_cents", B),
                ("past_due_balance_raw", S),
                ("write_off_amount_in_cents", B),
                ("write_off_amount_raw", S),
                ("status_raw", S),
                ("status_normalized", S),
                ("type", S),
                ("term", S),
                ("services", J),  # [{name, ...}]
            ),
        ),
        ModelDef(
            "leads",
            _cols(
                ("x_created_at", DT),
                ("x_updated_at", DT),
                ("x_unit_id", S),
                ("unit_id", U),
                # The units the lead prefers: PMS ids and the units' syncd ids
                # (JSON lists). x_unit_id / unit_id hold a single one.
                ("x_unit_id_preferred", J),
                ("unit_id_preferred", J),
                ("x_lead_source_id", S),
                ("lead_source_id", U),
                ("lead_source", S),
                ("ils", S),
                # The leasing agent is an employee of the PMS.
                ("x_leasing_agent_id", S),
                ("leasing_agent_id", U),
                ("leasing_agent", S),
                # Guest cards are no syncd model: the PMS id only.
                ("x_guestcard_id", S),
                ("first_name", S),
                ("middle_name", S),
                ("last_name", S),
                ("date_of_birth", D),
                ("email_1", S),
                ("email_2", S),
                ("phone_1", S),
                ("phone_1_type", S),
                ("phone_2", S),
                ("phone_2_type", S),
                *_ADDRESS,
                ("status", S),
                ("target_move_in_date", D),
                ("number_of_occupants", INT),
                ("desired_num_bedrooms", INT),
                ("desired_num_bathrooms", F),
                ("desired_min_square_ft", INT),
                ("desired_max_square_ft", INT),
                ("desired_min_rent_in_cents", B),
                ("desired_max_rent_in_cents", B),
                # Text in the reference, so not narrowed to a whole number.
                ("desired_lease_term_in_months", S),
                # The reference names it without x_, yet it holds the PMS's
                # id of the floor plan (text); kept under the reference's name.
                ("desired_floor_plan_id", S),
                ("desired_floor_plan_name", S),
                ("desired_unit_number", S),
                ("desired_unit_type", S),
                ("desired_amenities", T),
                ("pets", J),  # [{name, type, breed, weight_in_pounds...}]
                ("screenings", J),  # [{x_id, status_raw, screening_date}]
                ("notes", T),
            ),
        ),
        ModelDef(
            "lead_sources",
            _cols(("x_location_id", S), ("name", S)),
        ),
        ModelDef(
            "employees",
            _cols(
                ("x_location_id", S),
                ("name", S),
                ("first_name", S),
                ("last_name", S),
                ("email", S),
                ("phone_1", S),
                ("phone_1_type", S),
                ("is_active", BO),
                ("roles", J),
            ),
        ),
    )
}

#: Fields of the reference API's records (its GET-by-id answers) that no
#: model column holds, on purpose, with the reason. Every other reference
#: field is a column of the model or one of COMMON_COLUMNS; a unit test holds
#: the models to that.
REFERENCE_FIELDS_NOT_MAPPED: Final[dict[str, dict[str, str]]] = {
    "properties": {
        "square_footage": "deprecated in the reference: square_feet",
        "street_address_1": "deprecated in the reference: address_1",
        "street_address_2": "deprecated in the reference: address_2",
        "type": "deprecated in the reference: type_raw",
        "associated_owner_ids": "ids of owner records: syncd has no owners model",
    },
    "units": {
        "street_address_1": "deprecated in the reference: address_1",
        "street_address_2": "deprecated in the reference: address_2",
        "unit_type_id": "syncd has no unit types model: x_unit_type_id keeps the PMS id",
    },
    "floor_plans": {},
    "residents": {
        "x_lease_id": "deprecated in the reference: leases_meta_data",
        "leases_meta_data": "the residents_to_leases link table holds it",
    },
    "leases": {
        "x_resident_id": "deprecated in the reference: residents_meta_data",
        "residents_meta_data": "the residents_to_leases link table holds it",
        "status": "deprecated in the reference: status_normalized",
    },
    "leads": {
        "pet_details": "deprecated in the reference: pets",
    },
    "lead_sources": {},
    "employees": {},
}

#: The resident↔lease link: rows derived from lease records.
LINK_MODEL: Final = "residents_to_leases"
LINK_COLUMNS: Final = _cols(
    ("x_lease_id", S),
    ("x_resident_id", S),
    ("resident_type_raw", S),
    ("resident_type_normalized", S),
    ("status_raw", S),
    ("move_in_date", D),
    ("move_out_date", D),
)

#: Models in dependency order: a model's references point to models before it.
MODEL_ORDER: Final = (
    "properties",
    "floor_plans",
    "units",
    "residents",
    "leases",
    "lead_sources",
    "leads",
    "employees",
)
