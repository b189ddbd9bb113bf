"""Field diffs of records and their JSON-safe form (pure functions, no I/O).

A DATA_UPDATE event carries ``{"previous": {field: old}, "new": {field: new}}``
holding the changed fields only. Values are compared in their JSON-safe form
(what a webhook receiver sees), so a date read back from the database equals
the same date produced by a transform.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

JSONValue = Any


def json_safe(value: Any) -> JSONValue:
    """``value`` as JSON-ready data: UUIDs and dates become ISO strings, tuples lists.

    Timestamps are rendered in UTC, so equal instants give equal strings.
    """
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        # NaN and infinities have no JSON form.
        return value if math.isfinite(value) else None
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.astimezone(UTC).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [json_safe(v) for v in value]
    return str(value)


def json_record(values: Mapping[str, Any], fields: Iterable[str] | None = None) -> dict[str, Any]:
    """The JSON-safe form of ``values`` (only ``fields`` when given; absent ones are None)."""
    if fields is None:
        return {k: json_safe(v) for k, v in values.items()}
    return {f: json_safe(values.get(f)) for f in fields}


@dataclass(frozen=True, slots=True)
class Diff:
    """The changed fields of a record: their previous and new values."""

    previous: Mapping[str, JSONValue]
    new: Mapping[str, JSONValue]

    def __bool__(self) -> bool:
        return bool(self.new)

    def as_json(self) -> dict[str, dict[str, JSONValue]]:
        """The event's ``diff`` object."""
        return {"previous": dict(self.previous), "new": dict(self.new)}


def diff(
    previous: Mapping[str, Any], new: Mapping[str, Any], fields: Iterable[str] | None = None
) -> Diff:
    """The fields of ``fields`` (default: every key of either side) whose values differ.

    A field missing on one side counts as None. Both sides are compared in
    their JSON-safe form, and the diff holds that form.
    """
    names = list(fields) if fields is not None else sorted(set(previous) | set(new))
    before: dict[str, JSONValue] = {}
    after: dict[str, JSONValue] = {}
    for name in names:
        old_value = json_safe(previous.get(name))
        new_value = json_safe(new.get(name))
        if not _same(old_value, new_value):
            before[name] = old_value
            after[name] = new_value
    return Diff(before, after)


def apply(previous: Mapping[str, Any], change: Diff) -> dict[str, JSONValue]:
    """``previous`` (made JSON-safe) with the diff's new values laid over it."""
    return json_record(previous) | dict(change.new)


def _same(a: JSONValue, b: JSONValue) -> bool:
    # 2 and 2.0 are one value in JSON, but True is not 1.
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict | list) or isinstance(b, dict | list):
        return False
    return bool(a == b)
