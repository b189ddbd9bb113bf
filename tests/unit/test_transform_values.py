"""Value conversion of the transform engine: money, numbers, dates, paths, options."""

from __future__ import annotations

import textwrap
import uuid
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from syncd.domain import record_id
from syncd.errors import TransformError
from syncd.transform import ModelTransform, content_hash, load_transforms
from syncd.transform.compiler import (
    cached_record_id,
    compile_path,
    to_bool,
    to_cents,
    to_date,
    to_datetime,
    to_float,
    to_id,
    to_int,
    to_string,
)

IID = "integration-7"


# --- money ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "cents"),
    [
        (1850.0, 185000),
        (1850, 185000),
        (19.99, 1999),
        (0.1 + 0.2, 30),
        (2.675, 268),  # half to even on the decimal the PMS sent, not the binary float
        (0.125, 12),
        (0.135, 14),
        (1.005, 100),
        (-12.345, -1234),
        ("1850.00", 185000),
        (" 12.5 ", 1250),
        ("0.005", 0),
        ("0.015", 2),
        (Decimal("3.14159"), 314),
        (0.0, 0),
        (9_999_999_999_999.99, 999_999_999_999_999),
    ],
)
def test_money_to_cents(amount: Any, cents: int) -> None:
    assert to_cents(amount) == cents


@pytest.mark.parametrize(
    "amount", ["abc", "", "1,850.00", True, None, [1], {"a": 1}, float("nan"), float("inf"), "NaN"]
)
def test_money_rejects_non_amounts(amount: Any) -> None:
    with pytest.raises(ValueError, match="amount"):
        to_cents(amount)


@given(st.floats(min_value=-1e12, max_value=1e12, allow_nan=False, allow_infinity=False))
def test_money_matches_decimal_half_even(amount: float) -> None:
    exact = (Decimal(repr(amount)) * 100).quantize(Decimal(1), rounding=ROUND_HALF_EVEN)
    assert to_cents(amount) == int(exact)


@given(st.integers(min_value=-(10**12), max_value=10**12))
def test_two_decimal_amounts_are_exact(cents: int) -> None:
    assert to_cents(cents / 100) == cents


# --- numbers, text, booleans, ids -----------------------------------------------------


@pytest.mark.parametrize(("value", "expected"), [(3, 3), (3.0, 3), ("42", 42), (" -7 ", -7)])
def test_int_accepts_integral_values(value: Any, expected: int) -> None:
    assert to_int(value) == expected


@pytest.mark.parametrize("value", [3.5, "3.0", "abc", True, False, None, [], "1e3"])
def test_int_rejects_the_rest(value: Any) -> None:
    with pytest.raises(ValueError, match="expected an integer"):
        to_int(value)


def test_float_string_bool_and_id() -> None:
    assert to_float(2) == 2.0 and isinstance(to_float(2), float)
    assert to_float("1.5") == 1.5
    for bad in ("x", True, float("inf"), None):
        with pytest.raises(ValueError, match="number"):
            to_float(bad)
    assert to_string(12) == "12"
    assert to_string(12.0) == "12"
    assert to_string(1.25) == "1.25"
    with pytest.raises(ValueError, match="expected text, got bool True"):
        to_string(True)
    assert to_bool(True) is True
    assert to_bool("false") is False
    assert to_bool(" TRUE ") is True
    assert to_bool(1) is True
    for bad in ("yes", 2, None, 1.0):
        with pytest.raises(ValueError, match="expected a boolean"):
            to_bool(bad)
    assert to_id(5) == "5"
    assert to_id(5.0) == "5"
    assert to_id("abc-1") == "abc-1"
    with pytest.raises(ValueError, match="expected an id"):
        to_id(5.5)


# --- dates and datetimes ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-01-01T10:00:00Z", datetime(2024, 1, 1, 10, tzinfo=UTC)),
        ("2024-01-01T10:00:00", datetime(2024, 1, 1, 10, tzinfo=UTC)),  # no zone: UTC
        ("2024-01-01T10:00:00.1234567Z", datetime(2024, 1, 1, 10, 0, 0, 123456, tzinfo=UTC)),
        ("2024-01-01T10:00:00.5", datetime(2024, 1, 1, 10, 0, 0, 500000, tzinfo=UTC)),
        ("2024-01-01T10:00:00+02:00", datetime(2024, 1, 1, 8, tzinfo=UTC)),
        ("2024-01-01T01:00:00-05:30", datetime(2024, 1, 1, 6, 30, tzinfo=UTC)),
        ("2024-01-01T00:00:00+00:00", datetime(2024, 1, 1, tzinfo=UTC)),
        ("2024-01-01", datetime(2024, 1, 1, tzinfo=UTC)),
    ],
)
def test_datetimes_become_aware_utc(text: str, expected: datetime) -> None:
    result = to_datetime(text)
    assert result == expected
    assert result.tzinfo is UTC


@pytest.mark.parametrize("text", ["2024-02-30T00:00:00Z", "2024-01-01T25:00:00Z", "yesterday", ""])
def test_invalid_datetimes(text: str) -> None:
    with pytest.raises(ValueError, match="invalid datetime"):
        to_datetime(text)


def test_dates() -> None:
    assert to_date("2024-02-29") == date(2024, 2, 29)
    # A datetime string keeps the date as written (no zone shift).
    assert to_date("2024-02-29T23:30:00-05:00") == date(2024, 2, 29)
    for bad in ("2024-02-31", "2023-02-29", "20240101", "2024-1-1", "2024-01-01Tnoon"):
        with pytest.raises(ValueError, match=f"invalid date '{bad}'"):
            to_date(bad)
    with pytest.raises(ValueError, match="expected a date string, got int"):
        to_date(20240101)


# --- paths ------------------------------------------------------------------------------


def test_paths_walk_objects_and_lists() -> None:
    record = {"A": {"B": [{"C": 1}, {"C": 2}]}, "0": "zero-key", "L": [None]}
    assert compile_path("A.B.1.C")(record) == 2
    assert compile_path("A.B.5.C")(record) is None
    assert compile_path("A.X.0")(record) is None
    assert compile_path("0")(record) == "zero-key"
    assert compile_path("L.0.Anything")(record) is None
    assert compile_path("Missing.Key")(record) is None


def test_paths_refuse_to_step_into_scalars() -> None:
    with pytest.raises(TransformError) as info:
        compile_path("A.B")({"A": 5})
    assert info.value.field == "A.B"
    assert info.value.reason == "expected an object at A, got int 5"
    with pytest.raises(TransformError, match="expected a list at A, got str"):
        compile_path("A.0")({"A": "text"})
    # On an object a digit segment is a plain key.
    assert compile_path("A.0")({"A": {"0": "zero"}}) == "zero"
    with pytest.raises(TransformError, match=r"expected an object at A\.0"):
        compile_path("A.0.B")({"A": ["s"]})


def test_paths_accept_any_mapping() -> None:
    from types import MappingProxyType

    record = {"A": MappingProxyType({"B": "ok"})}
    assert compile_path("A.B")(record) == "ok"


# --- schema options, end to end -------------------------------------------------------

ENUMS = """
version: 1
maps:
  color:
    default: OTHER
    allowed: [RED, BLUE, OTHER]
    values: {r: RED, b: BLUE}
"""

SCHEMA = """
model: leads
id: {source: key, type: string}
property_id: {source: site.code, type: id}
fields:
  first_name: {source: person.name, enum: color}
  last_name: {const: Smith}
  x_unit_id: {source: unit, type: int}
  unit_id: {source: unit, ref: units}
  notes: {sources: [a, b.c, d], join: " / "}
  status: {source: level, map: {"1": low, "2": high}, map_default: unknown}
  target_move_in_date: {source: move, type: datetime}
  x_lead_source_id: unit
custom_data:
  moved: {source: move, type: date}
  moved_at: {source: move, type: datetime}
  amount: {source: amount, type: money}
  raw: nested
  tags: {source: tags, as_list: true, type: string}
  ref_id: {source: unit, type: id}
  fixed: {const: 2024-01-02}
  negated: {source: flag, negate: true}
  label: {source: label, type: string}
"""


@pytest.fixture
def custom(tmp_path: Path) -> ModelTransform:
    (tmp_path / "enums.yaml").write_text(textwrap.dedent(ENUMS))
    (tmp_path / "leads.yaml").write_text(textwrap.dedent(SCHEMA))
    return load_transforms("acme", directory=tmp_path).for_model("leads")


def test_options_end_to_end(custom: ModelTransform) -> None:
    raw = {
        "key": "L-1",
        "site": {"code": 77},
        "person": {"name": "b"},
        "unit": 12,
        "a": "x",
        "b": {"c": 5},
        "d": "",
        "level": 2,
        "move": "2024-06-01T23:00:00-02:00",
        "amount": "10.10",
        "nested": {"z": [1, 2], "a": None},
        "tags": ["one", 2],
        "flag": False,
        "label": "",
    }
    rec = custom.transform(raw, IID)
    assert rec.x_id == "L-1"
    assert dict(rec.values) == {
        "first_name": "BLUE",
        "last_name": "Smith",
        "x_unit_id": "12",
        "unit_id": record_id(IID, "units", "12"),
        "notes": "x / 5",
        "status": "high",
        "target_move_in_date": date(2024, 6, 2),  # the UTC date of the datetime
        "x_lead_source_id": "12",
        "x_property_id": "77",
        "property_id": record_id(IID, "properties", "77"),
        "custom_data": {
            "moved": "2024-06-01",
            "moved_at": "2024-06-02T01:00:00+00:00",
            "amount": 1010,
            "raw": {"z": [1, 2], "a": None},
            "tags": ["one", "2"],
            "ref_id": "12",
            "fixed": "2024-01-02",
            "negated": True,
            "label": None,
        },
    }


def test_options_with_missing_sources(custom: ModelTransform) -> None:
    rec = custom.transform({"key": "L-2", "level": 9, "person": {"name": "zz"}}, IID)
    values = rec.values
    assert values["first_name"] == "OTHER"  # enum default
    assert values["status"] == "unknown"  # map_default
    assert values["notes"] is None
    assert values["unit_id"] is None
    assert values["x_property_id"] is None and values["property_id"] is None
    assert values["custom_data"]["tags"] == []
    assert values["custom_data"]["raw"] is None


def test_string_ids_are_kept_as_sent(custom: ModelTransform) -> None:
    assert custom.transform({"key": "007"}, IID).x_id == "007"
    assert custom.transform({"key": 7}, IID).x_id == "7"  # type string takes ints too
    with pytest.raises(TransformError, match="missing record id"):
        custom.transform({"key": ""}, IID)


def test_content_hash_is_order_insensitive_and_type_aware() -> None:
    a = {"x": 1, "when": date(2024, 1, 1), "id": uuid.UUID(int=1), "nested": {"b": 1, "a": 2}}
    b = {"nested": {"a": 2, "b": 1}, "id": uuid.UUID(int=1), "when": date(2024, 1, 1), "x": 1}
    assert content_hash(a) == content_hash(b)
    assert content_hash(a) != content_hash({**a, "x": "1"})
    assert content_hash(a) != content_hash({**a, "when": datetime(2024, 1, 1, tzinfo=UTC)})


@given(st.text(max_size=40), st.sampled_from(["units", "properties", "x"]), st.text(max_size=20))
def test_fast_record_ids_equal_domain_record_ids(iid: str, model: str, x_id: str) -> None:
    assert cached_record_id(iid, model, x_id) == record_id(iid, model, x_id)
    assert cached_record_id(iid, model, x_id).version == 5
