"""Record diffs: exactly the changed fields, with their previous and new values."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from syncd.diff import apply, diff, json_record, json_safe

FIELDS = [f"f{i}" for i in range(8)]

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**40), 2**40),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=8),
    st.dates(),
    st.datetimes(timezones=st.just(UTC)),
    st.uuids(),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=6,
)
records = st.fixed_dictionaries({}, optional=dict.fromkeys(FIELDS, values))

# Generation speed depends on the machine's load, not on the code under test.
relaxed = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def record_pairs(draw: st.DrawFn) -> tuple[dict[str, Any], dict[str, Any]]:
    """A record and a successor sharing some of its fields unchanged."""
    before = draw(records)
    after = draw(records)
    # Keep a random subset identical, so "unchanged" is exercised too.
    for name in draw(st.lists(st.sampled_from(FIELDS), unique=True)):
        if name in before:
            after[name] = before[name]
        else:
            after.pop(name, None)
    return before, after


@relaxed
@given(record_pairs())
def test_diff_holds_exactly_the_changed_fields(pair: tuple[dict[str, Any], dict[str, Any]]) -> None:
    before, after = pair
    change = diff(before, after, FIELDS)
    old, new = json_record(before, FIELDS), json_record(after, FIELDS)
    changed = {f for f in FIELDS if old[f] != new[f] or type(old[f]) is not type(new[f])}
    # Numbers equal in JSON (2 and 2.0) are not a change.
    changed = {
        f
        for f in changed
        if not (
            isinstance(old[f], int | float)
            and isinstance(new[f], int | float)
            and not isinstance(old[f], bool)
            and not isinstance(new[f], bool)
            and old[f] == new[f]
        )
    }
    assert set(change.new) == set(change.previous) == changed
    for f in changed:
        assert change.previous[f] == old[f]
        assert change.new[f] == new[f]
    assert bool(change) == bool(changed)


@relaxed
@given(record_pairs())
def test_applying_the_diff_reproduces_the_new_record(
    pair: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    before, after = pair
    change = diff(before, after, FIELDS)
    rebuilt = apply(json_record(before, FIELDS), change)
    expected = json_record(after, FIELDS)
    assert rebuilt.keys() == expected.keys()
    for f in FIELDS:
        assert rebuilt[f] == expected[f]


@relaxed
@given(records)
def test_a_record_has_no_diff_with_itself(record: dict[str, Any]) -> None:
    assert not diff(record, dict(record), FIELDS)
    assert diff(record, dict(record), FIELDS).as_json() == {"previous": {}, "new": {}}


def test_values_compare_in_their_json_form() -> None:
    rid = uuid.uuid4()
    when = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    same_instant = when.astimezone(timezone(timedelta(hours=2)))
    before = {"a": rid, "b": when, "c": date(2026, 1, 2), "d": 2.0, "e": None, "f": {"x": [1]}}
    after = {"a": str(rid), "b": same_instant, "c": date(2026, 1, 2), "d": 2, "f": {"x": [1]}}
    assert not diff(before, after)
    change = diff(before, {**after, "c": date(2026, 1, 3), "g": True})
    assert change.as_json() == {
        "previous": {"c": "2026-01-02", "g": None},
        "new": {"c": "2026-01-03", "g": True},
    }
    # True is not 1, and a list is not a scalar.
    assert diff({"x": 1}, {"x": True}).new == {"x": True}
    assert diff({"x": [1]}, {"x": 1}).new == {"x": 1}
    assert json_safe(float("nan")) is None
    assert json_safe((1, date(2026, 1, 1))) == [1, "2026-01-01"]
