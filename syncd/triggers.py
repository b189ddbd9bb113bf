"""When a job runs: interval, cron or weekly time slots, each in a time zone.

A trigger spec is data (YAML job definitions, per-integration configuration,
a JSON column of the schedules table); :func:`next_fire` turns it into the
next fire time. Interval and cron use APScheduler 3's trigger classes (they
handle time zones and DST); weekly slots are computed here.

Missed fire times coalesce: the next fire time is always computed *after*
now, never replayed one by one.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, field_validator, model_validator

_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
#: Interval triggers count from this instant, so every node agrees on the grid.
_EPOCH = datetime(2024, 1, 1, tzinfo=UTC)


def _check_zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {value!r}") from exc
    return value


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    timezone: str = "UTC"

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        return _check_zone(value)


class IntervalSpec(_Spec):
    """Every ``seconds`` (at least 1), on a grid anchored at a fixed epoch."""

    type: Literal["interval"] = "interval"
    seconds: int = Field(ge=1)


class CronSpec(_Spec):
    """A five-field crontab expression (minute hour day month weekday)."""

    type: Literal["cron"] = "cron"
    expression: str

    @field_validator("expression")
    @classmethod
    def _parse(cls, value: str) -> str:
        try:
            CronTrigger.from_crontab(value, timezone="UTC")
        except ValueError as exc:
            raise ValueError(f"invalid cron expression {value!r}: {exc}") from exc
        return value


class Slot(BaseModel):
    """A window on some weekdays, firing every ``every_seconds`` from its start."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    days: list[Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]] = Field(min_length=1)
    start: time
    end: time
    every_seconds: int = Field(ge=60)

    @model_validator(mode="after")
    def _order(self) -> Slot:
        if self.end <= self.start:
            raise ValueError("end must be after start (slots do not cross midnight)")
        return self


class WeeklySpec(_Spec):
    """Weekly time slots, e.g. every 20 minutes Monday to Friday, 09:00 to 17:00."""

    type: Literal["weekly"] = "weekly"
    slots: list[Slot] = Field(min_length=1)


TriggerSpec = Annotated[IntervalSpec | CronSpec | WeeklySpec, Field(discriminator="type")]
_ADAPTER: TypeAdapter[IntervalSpec | CronSpec | WeeklySpec] = TypeAdapter(TriggerSpec)


def parse_trigger(data: Any) -> IntervalSpec | CronSpec | WeeklySpec:
    """Validate trigger data (raises pydantic.ValidationError naming the field)."""
    return _ADAPTER.validate_python(data)


def trigger_json(spec: IntervalSpec | CronSpec | WeeklySpec) -> dict[str, Any]:
    """The spec as JSON-ready data (what the schedules table stores)."""
    return spec.model_dump(mode="json")


def next_fire(spec: IntervalSpec | CronSpec | WeeklySpec, after: datetime) -> datetime | None:
    """The first fire time strictly after ``after`` (UTC), or None if there is none."""
    after = after.astimezone(UTC)
    zone = ZoneInfo(spec.timezone)
    if isinstance(spec, IntervalSpec):
        trigger = IntervalTrigger(seconds=spec.seconds, start_date=_EPOCH, timezone=zone)
        return _utc(trigger.get_next_fire_time(None, after + timedelta(microseconds=1)))
    if isinstance(spec, CronSpec):
        cron = CronTrigger.from_crontab(spec.expression, timezone=zone)
        return _utc(cron.get_next_fire_time(None, after + timedelta(microseconds=1)))
    return _next_weekly(spec, after, zone)


#: The Gregorian calendar repeats every 400 years (leap days and weekdays):
#: a cron expression that does not fire within them never fires.
_CALENDAR_CYCLE_END = _EPOCH.replace(year=_EPOCH.year + 400)


def check_fires(spec: IntervalSpec | CronSpec | WeeklySpec) -> None:
    """Raise ValueError if ``spec`` can never fire (a cron date such as 31 February).

    Interval and weekly specs always fire. For cron, APScheduler would search
    up to the year 9999 before giving up; the search here stops after one
    calendar cycle, so even an impossible expression is refused in milliseconds.
    """
    if not isinstance(spec, CronSpec):
        return
    minute, hour, day, month, day_of_week = spec.expression.split()
    bounded = CronTrigger(
        minute=minute,
        hour=hour,
        day=day,
        month=month,
        day_of_week=day_of_week,
        timezone=UTC,
        end_date=_CALENDAR_CYCLE_END,
    )
    if bounded.get_next_fire_time(None, _EPOCH) is None:
        raise ValueError(
            f"the cron expression {spec.expression!r} never fires "
            "(no date matches its day, month and weekday)"
        )


def _utc(value: datetime | None) -> datetime | None:
    return None if value is None else value.astimezone(UTC)


def _next_weekly(spec: WeeklySpec, after: datetime, zone: ZoneInfo) -> datetime | None:
    local_after = after.astimezone(zone)
    best: datetime | None = None
    # Eight local days cover every weekday once plus today's remaining slots.
    for offset in range(8):
        day = local_after.date() + timedelta(days=offset)
        weekday = _DAYS[day.weekday()]
        for slot in spec.slots:
            if weekday not in slot.days:
                continue
            start = datetime.combine(day, slot.start, tzinfo=zone)
            end = datetime.combine(day, slot.end, tzinfo=zone)
            step = timedelta(seconds=slot.every_seconds)
            if end <= local_after:
                continue
            if start > local_after:
                candidate = start
            else:
                done = (local_after - start) // step + 1
                candidate = start + done * step
            if candidate < end and (best is None or candidate < best):
                best = candidate
        if best is not None:
            return best.astimezone(UTC)
    return None
