"""The unified write fields: what a create or update of each model may carry.

One definition per field (its type, range, choices, default and, for a
reference, the model it points to), whatever the PMS. Which of them a PMS
accepts, and which it requires, its connector declares
(:meth:`~syncd.connectors.base.Connector.writable_fields`); validation
(:mod:`syncd.writes.validation`) holds a request to both.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final


class FieldKind(StrEnum):
    """The JSON type a write field takes."""

    STRING = "string"
    INTEGER = "integer"
    NUMBER = "number"
    DATE = "date"
    ENUM = "enum"
    REFERENCE = "reference"


@dataclass(frozen=True, slots=True)
class WriteField:
    """One field a write may set."""

    name: str
    kind: FieldKind
    description: str
    #: The model a reference points to (its syncd id, of the same integration).
    model: str | None = None
    minimum: float | None = None
    max_length: int | None = None
    choices: tuple[str, ...] = ()
    #: Filled in when the client leaves it out (and the PMS takes the field).
    default: Any = None


#: Phone types a write may name.
PHONE_TYPES: Final = ("HOME", "MOBILE", "WORK", "FAX", "OTHER")


def _s(name: str, description: str, max_length: int = 255) -> WriteField:
    return WriteField(name, FieldKind.STRING, description, max_length=max_length)


def _ref(name: str, model: str, description: str) -> WriteField:
    return WriteField(name, FieldKind.REFERENCE, description, model=model)


def _count(name: str, kind: FieldKind, description: str) -> WriteField:
    return WriteField(name, kind, description, minimum=0)


def _phone_type(name: str, default: str) -> WriteField:
    return WriteField(
        name,
        FieldKind.ENUM,
        f"the phone's type (default {default})",
        choices=PHONE_TYPES,
        default=default,
    )


_PERSON: Final = (
    _s("first_name", "first name", 100),
    _s("last_name", "last name", 100),
    _s("email_1", "primary email address", 254),
    _s("phone_1", "primary phone number", 40),
    _phone_type("phone_1_type", "HOME"),
    _s("phone_2", "second phone number", 40),
    _phone_type("phone_2_type", "MOBILE"),
    _s("address_1", "street address"),
    _s("address_2", "second address line"),
    _s("city", "city", 100),
    _s("state", "state or region", 50),
    _s("zip", "postal code", 20),
    _s("notes", "notes kept with the record", 65_535),
)

#: Per model, the fields a write may carry, by name (in the order answers list them).
WRITE_FIELDS: Final[Mapping[str, Mapping[str, WriteField]]] = {
    "leads": {
        f.name: f
        for f in (
            _ref("property_id", "properties", "the property the lead is interested in"),
            _ref("lead_source_id", "lead_sources", "where the lead came from"),
            _ref("employee_id", "employees", "the leasing agent the lead is assigned to"),
            _ref("unit_id", "units", "the unit the lead is interested in"),
            _ref("floor_plan_id", "floor_plans", "the floor plan the lead is interested in"),
            _s("lead_source", "where the lead came from, as text (a PMS without lead sources)"),
            *_PERSON,
            _count("desired_num_bedrooms", FieldKind.NUMBER, "bedrooms wanted (>= 0)"),
            _count("desired_num_bathrooms", FieldKind.NUMBER, "bathrooms wanted (>= 0)"),
            _count(
                "desired_max_rent_in_cents", FieldKind.INTEGER, "highest monthly rent, in cents"
            ),
            _count("desired_lease_term_in_months", FieldKind.INTEGER, "lease term wanted"),
            WriteField("target_move_in_date", FieldKind.DATE, "move-in date wanted (YYYY-MM-DD)"),
        )
    },
    "residents": {
        f.name: f
        for f in (
            _ref("property_id", "properties", "the resident's property"),
            _ref("unit_id", "units", "the resident's unit"),
            *_PERSON,
            WriteField("date_of_birth", FieldKind.DATE, "date of birth (YYYY-MM-DD)"),
        )
    },
}

#: Models syncd can write (to PMSs that allow it).
WRITABLE_MODELS: Final = tuple(WRITE_FIELDS)
