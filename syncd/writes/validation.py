"""Validating a write's fields against the unified definitions and the target PMS's rules.

Pure: no I/O. Whether referenced records exist is the service's question
(:mod:`syncd.writes.service`), asked after these checks pass.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from syncd.domain import Capability
from syncd.writes.fields import WRITE_FIELDS, FieldKind, WriteField


@dataclass(frozen=True, slots=True)
class FieldIssue:
    """What is wrong with one field of a write request."""

    field: str
    message: str
    code: str = "invalid"


@dataclass(frozen=True, slots=True)
class Checked:
    """A write's fields after validation: the accepted values and what was stripped."""

    #: Accepted fields, normalized (dates as ISO dates, enums upper case,
    #: references as canonical UUIDs), defaults filled in on a create.
    values: dict[str, Any]
    #: Fields left out because of ``ignore_unknown_fields``.
    stripped: tuple[str, ...]
    issues: tuple[FieldIssue, ...]


def check_fields(
    model: str,
    operation: Capability,
    body: Mapping[str, Any],
    *,
    accepted: frozenset[str],
    required: frozenset[str],
    pms: str,
    ignore_unknown: bool,
    reserved: frozenset[str] = frozenset({"integration_id"}),
) -> Checked:
    """Hold ``body`` to the unified field definitions and to what the PMS ``accepted``.

    A field syncd does not know, or one the PMS does not take for this
    operation, is an issue unless ``ignore_unknown`` (then it is stripped).
    A null value counts as not given. ``reserved`` keys (the integration's
    id) are the caller's and pass unchecked.
    """
    known = WRITE_FIELDS[model]
    values: dict[str, Any] = {}
    stripped: list[str] = []
    issues: list[FieldIssue] = []
    for name, value in body.items():
        if name in reserved:
            continue
        spec = known.get(name)
        if spec is None or name not in accepted:
            if ignore_unknown:
                stripped.append(name)
            elif spec is None:
                issues.append(FieldIssue(name, f"{model} have no field {name!r}", "unknown_field"))
            else:
                issues.append(
                    FieldIssue(
                        name,
                        f"{pms} does not accept {name} when it {_verb(operation)} {model} "
                        "(?ignore_unknown_fields=true leaves it out)",
                        "not_supported",
                    )
                )
            continue
        if value is None:
            continue
        normal, problem = _normalize(spec, value)
        if problem is not None:
            issues.append(FieldIssue(name, problem))
        else:
            values[name] = normal
    if operation is Capability.CREATE:
        for name in sorted(required - values.keys()):
            if not any(i.field == name for i in issues):
                issues.append(FieldIssue(name, f"{pms} requires {name}", "missing"))
        for name in accepted:
            spec = known.get(name)
            if spec is not None and spec.default is not None and name not in values:
                values[name] = spec.default
    elif not values and not issues:
        issues.append(FieldIssue("body", "nothing to update: give at least one field", "missing"))
    return Checked(values, tuple(stripped), tuple(issues))


def _verb(operation: Capability) -> str:
    return "creates" if operation is Capability.CREATE else "updates"


def _normalize(spec: WriteField, value: Any) -> tuple[Any, str | None]:
    """The value in its stored form, or a problem naming what was expected."""
    kind = spec.kind
    if kind is FieldKind.STRING:
        if not isinstance(value, str):
            return None, "must be a string"
        if spec.max_length is not None and len(value) > spec.max_length:
            return None, f"must be at most {spec.max_length} characters"
        if not value.strip():
            return None, "must not be empty"
        return value, None
    if kind in (FieldKind.INTEGER, FieldKind.NUMBER):
        integer = kind is FieldKind.INTEGER
        if isinstance(value, bool) or not isinstance(value, int | float):
            return None, "must be an integer" if integer else "must be a number"
        if integer and isinstance(value, float):
            if not value.is_integer():
                return None, "must be an integer"
            value = int(value)
        if not math.isfinite(value):
            return None, "must be a finite number"
        if spec.minimum is not None and value < spec.minimum:
            return None, f"must be >= {spec.minimum:g}"
        return value, None
    if kind is FieldKind.DATE:
        if not isinstance(value, str):
            return None, "must be a date (YYYY-MM-DD)"
        try:
            # A date-time is accepted and its time left out, as the reference does.
            day = (
                datetime.fromisoformat(value.replace("Z", "+00:00")).date()
                if "T" in value
                else date.fromisoformat(value)
            )
        except ValueError:
            return None, "must be a date (YYYY-MM-DD)"
        return day.isoformat(), None
    if kind is FieldKind.ENUM:
        if not isinstance(value, str) or value.upper() not in spec.choices:
            return None, f"must be one of {', '.join(spec.choices)}"
        return value.upper(), None
    if not isinstance(value, str):
        return None, "must be a syncd id (a UUID string)"
    try:
        return str(uuid.UUID(value)), None
    except ValueError:
        return None, "must be a syncd id (a UUID string)"
