"""Trigger specs: interval, cron and weekly slots in time zones, DST included."""

from __future__ import annotations

from datetime import UTC, datetime, time

import pytest
from pydantic import ValidationError

from syncd.triggers import (
    CronSpec,
    IntervalSpec,
    WeeklySpec,
    check_fires,
    next_fire,
    parse_trigger,
)


def at(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_interval_is_on_a_shared_grid_and_strictly_after() -> None:
    spec = IntervalSpec(seconds=900)
    assert next_fire(spec, at(2026, 11, 23, 20, 0, 0)) == at(2026, 11, 23, 20, 15)
    assert next_fire(spec, at(2026, 11, 23, 20, 7, 30)) == at(2026, 11, 23, 20, 15)


def test_missed_fires_coalesce_into_the_next_one() -> None:
    spec = IntervalSpec(seconds=60)
    # Down for a day: the next fire is the next minute, not 1,440 replays.
    assert next_fire(spec, at(2026, 11, 24, 12, 0, 30)) == at(2026, 11, 24, 12, 1)


def test_cron_in_time_zone_across_dst() -> None:
    spec = CronSpec(expression="0 3 * * *", timezone="America/New_York")
    # 03:00 New York is 08:00 UTC in winter, 07:00 UTC in summer.
    assert next_fire(spec, at(2026, 3, 7, 12, 0)) == at(2026, 3, 8, 7, 0)
    assert next_fire(spec, at(2026, 1, 10, 12, 0)) == at(2026, 1, 11, 8, 0)


def test_weekly_slots() -> None:
    spec = WeeklySpec(
        timezone="America/Chicago",
        slots=[
            {
                "days": ["mon", "tue", "wed", "thu", "fri"],
                "start": "09:00",
                "end": "17:00",
                "every_seconds": 1200,
            }
        ],
    )
    # Monday 2026-11-23 14:05 Chicago (20:05 UTC) → 14:20 Chicago.
    assert next_fire(spec, at(2026, 11, 23, 20, 5)) == at(2026, 11, 23, 20, 20)
    # Friday after hours → Monday 09:00 Chicago (15:00 UTC).
    assert next_fire(spec, at(2026, 11, 27, 23, 30)) == at(2026, 11, 30, 15, 0)
    # The last fire of a slot is before its end.
    assert next_fire(spec, at(2026, 11, 23, 22, 30)) == at(2026, 11, 23, 22, 40)
    assert next_fire(spec, at(2026, 11, 23, 22, 40)) == at(2026, 11, 24, 15, 0)


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"type": "interval", "seconds": 0}, "seconds"),
        ({"type": "cron", "expression": "61 * * * *"}, "expression"),
        ({"type": "cron", "expression": "0 3 * * *", "timezone": "Mars/Base"}, "timezone"),
        ({"type": "weekly", "slots": []}, "slots"),
        (
            {
                "type": "weekly",
                "slots": [
                    {"days": ["mon"], "start": "10:00", "end": "09:00", "every_seconds": 600}
                ],
            },
            "slots",
        ),
        ({"type": "hourly"}, "type"),
    ],
)
def test_invalid_specs_name_the_field(data: dict[str, object], field: str) -> None:
    with pytest.raises(ValidationError) as err:
        parse_trigger(data)
    assert field in str(err.value)


def test_roundtrip() -> None:
    spec = parse_trigger(
        {
            "type": "weekly",
            "slots": [{"days": ["sat"], "start": "08:00", "end": "09:00", "every_seconds": 600}],
        }
    )
    assert isinstance(spec, WeeklySpec) and spec.slots[0].start == time(8, 0)


@pytest.mark.parametrize(
    "expression", ["0 0 31 2 *", "0 0 30 2 *", "0 0 31 4,6,9,11 *", "*/5 * 31 2 mon"]
)
def test_a_cron_date_that_never_comes_is_refused(expression: str) -> None:
    spec = CronSpec(expression=expression)
    with pytest.raises(ValueError) as err:
        check_fires(spec)
    assert str(err.value).startswith(f"the cron expression '{expression}' never fires")


@pytest.mark.parametrize(
    "expression",
    [
        "0 0 29 2 *",  # every leap year
        "0 0 29 2 mon",  # a Monday 29 February: 2044, then every 28 years or so
        "0 0 31 2,3 *",  # 31 March
        "*/15 * * * *",
    ],
)
def test_rare_but_real_cron_dates_are_accepted(expression: str) -> None:
    check_fires(CronSpec(expression=expression))


def test_interval_and_weekly_specs_always_fire() -> None:
    check_fires(IntervalSpec(seconds=60))
    check_fires(
        WeeklySpec(slots=[{"days": ["sun"], "start": "01:00", "end": "02:00", "every_seconds": 60}])
    )
