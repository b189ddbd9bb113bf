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
                ("website", S),
                ("notes", T),
            ),
        ),
        ModelDef(
            "units",
            _cols(
                ("x_floor_plan_id", S),
                ("floor_plan_id", U),
                ("floor_plan_name", S),
                ("number", S),
                ("building_name", S),
                ("floor", S),
                ("bedrooms", INT),
                ("bathrooms", F),
                ("square_feet", INT),
                *_ADDRESS,
                ("is_vacant", BO),
                ("is_listed", BO),
                ("is_available", BO),
                ("rent_amount_market_in_cents", B),
                ("notes", T),
            ),
        ),
        ModelDef(
            "floor_plans",
            _cols(
                ("name", S),
                ("marketing_name", S),
                ("code", S),
                ("bedrooms", INT),
                ("bathrooms", F),
                ("rentable_square_feet", INT),
                ("rent_minimum_in_cents", B),
                ("rent_maximum_in_cents", B),
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
                ("balance_in_cents", B),
                ("notes", T),
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
                ("start_date", D),
                ("end_date", D),
                ("scheduled_move_out_date", D),
                ("rent_amount_in_cents", B),
                ("deposit_amount_in_cents", B),
                ("rent_due_day", INT),
                ("status_raw", S),
                ("status_normalized", S),
                ("type", S),
                ("term", S),
            ),
        ),
        ModelDef(
            "leads",
            _cols(
                ("x_created_at", DT),
                ("x_updated_at", DT),
                ("x_unit_id", S),
                ("unit_id", U),
                ("x_lead_source_id", S),
                ("lead_source_id", U),
                ("lead_source", S),
                ("first_name", S),
                ("last_name", S),
                ("email_1", S),
                ("phone_1", S),
                ("phone_1_type", S),
                ("phone_2", S),
                ("phone_2_type", S),
                ("status", S),
                ("target_move_in_date", D),
                ("notes", T),
            ),
        ),
        ModelDef(
            "lead_sources",
            _cols(("name", S)),
        ),
        ModelDef(
            "employees",
            _cols(
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
