"""Per-integration configuration: overrides of the vendor's job definitions.

Stored in the integration's ``options`` (in the database) and edited with
``syncd integrations config ID --set KEY=VALUE`` or ``--file F``. Keys:

- ``rate_limit_per_second``, ``page_size``, ``concurrency``: connector controls
  (the rate is the integration's maximum, shared by all its jobs);
- ``schedules.incremental``, ``schedules.full``: a trigger (interval, cron or
  weekly slots) or ``none`` to unschedule;
- ``jobs.<model>.enabled``: run a model or not;
- ``date_filters.<model>.field`` (the vendor's own filter field, or ``none``
  for none) and ``date_filters.<model>.window_days`` (how far back a full run
  asks; ``none`` for as far as the PMS lists);
- ``sweep_max_share`` (0-1, default 0.1), ``jobs.<model>.sweep_max_share``: the
  largest share of a model's scope a deletion sweep may delete without a
  human's approval (``syncd sweeps approve``);
- ``emit_initial_events`` (default false): write data events during a model's
  first sync and back-syncs too;
- ``properties.<x_property_id>.enabled``: sync a property's data or not (a
  disabled property's records are neither stored nor ever swept);
- ``new_properties_are_enabled`` (default true): false makes a property seen
  for the first time disabled (its record is stored, its data is not);
- ``enum_maps.<map>.<raw value>``: a custom normalization.

Every value is validated before it is stored; an invalid one is refused with
its key named. ``archived_at`` (when the integration was archived) is kept
there too, but set only by archiving (``syncd integrations archive``).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from syncd.connectors.registry import get_connector_class
from syncd.errors import ConfigError
from syncd.files import read_text
from syncd.jobs import SCHEDULED_JOBS, ModelJob, VendorJobs
from syncd.triggers import check_fires, parse_trigger, trigger_json

_LIMITS: dict[str, tuple[type, float, float]] = {
    "rate_limit_per_second": (float, 0, 10_000),
    "page_size": (int, 1, 100_000),
    "concurrency": (int, 1, 64),
}


#: The share of a scope a sweep may delete before a human must approve it.
DEFAULT_SWEEP_MAX_SHARE = 0.10


def sweep_max_share(options: Mapping[str, Any], model: str) -> float:
    """The sweep guard's threshold of ``model``: its own, else the integration's, else 10 %."""
    own = options.get("jobs", {}).get(model, {}).get("sweep_max_share")
    value = own if own is not None else options.get("sweep_max_share", DEFAULT_SWEEP_MAX_SHARE)
    return float(value)


def disabled_properties(options: Mapping[str, Any]) -> frozenset[str]:
    """The PMS ids of the properties whose data this integration does not sync."""
    return frozenset(
        x_id
        for x_id, controls in options.get("properties", {}).items()
        if isinstance(controls, Mapping) and controls.get("enabled") is False
    )


#: The options key holding when an integration was archived (absent: not archived).
ARCHIVED_AT = "archived_at"


def new_properties_are_enabled(options: Mapping[str, Any]) -> bool:
    """False when a property seen for the first time is to start disabled."""
    return options.get("new_properties_are_enabled", True) is not False


def emit_initial_events(options: Mapping[str, Any]) -> bool:
    """True when data events are wanted during first syncs and back-syncs too."""
    return bool(options.get("emit_initial_events", False))


def _date_filter(jobs: VendorJobs, key: str, model: str, name: str, raw: Any) -> Any:
    """A validated date filter override: the PMS decides which fields exist."""
    try:
        job = jobs.job(model)
    except KeyError:
        models = ", ".join(j.model for j in jobs.jobs)
        raise _fail(key, f"{jobs.vendor} has no job {model!r} (jobs: {models})") from None
    if name == "field":
        # Only the dates the vendor's API filters this model by, or none at
        # all: another field would be a filter the PMS does not have.
        dates = get_connector_class(jobs.vendor).date_fields(model)
        allowed = [*sorted(dates | ({job.date_filter} - {"none"})), "none"]
        if raw not in allowed:
            raise _fail(
                key, f"{jobs.vendor} {model} can be filtered by {' or '.join(allowed)}, not {raw!r}"
            )
        return raw
    if name == "window_days":
        if raw is None or raw == "none":
            return None
        if isinstance(raw, bool) or not isinstance(raw, int) or not 1 <= raw <= 36_500:
            raise _fail(key, f"expected a whole number of days (1-36500) or none, got {raw!r}")
        if job.date_filter == "none":
            raise _fail(key, f"{jobs.vendor} {model} has no date filter to window")
        return raw
    raise _fail(key, f"unknown date filter setting {name!r} (field or window_days)")


def apply_job_overrides(job: ModelJob, options: Mapping[str, Any]) -> ModelJob:
    """``job`` with the integration's date filter overrides applied."""
    own = options.get("date_filters", {}).get(job.model, {})
    if not own:
        return job
    field = own.get("field", job.date_filter)
    window = own.get("window_days", job.window_days)
    # Without a filter there is no window to ask for.
    return replace(job, date_filter=field, window_days=None if field == "none" else window)


def _share(key: str, raw: Any) -> float:
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        raise _fail(key, f"expected a share between 0 and 1 (e.g. 0.1 for 10 %), got {raw!r}")
    if not 0 <= raw <= 1:
        raise _fail(key, f"must be between 0 and 1 (a share of the scope; 0.1 = 10 %), got {raw}")
    return float(raw)


def _fail(key: str, message: str) -> ConfigError:
    return ConfigError(message, field=key)


def _scalar(key: str, raw: Any) -> Any:
    kind, low, high = _LIMITS[key]
    try:
        value = kind(raw)
    except (TypeError, ValueError, OverflowError):
        raise _fail(key, f"expected a number, got {raw!r}") from None
    # Written so that nan fails too (every comparison with it is false).
    if not low <= value <= high:
        raise _fail(key, f"must be between {low:g} and {high:g}")
    return value


def connector_option(key: str, raw: Any) -> Any:
    """A validated connector control (``rate_limit_per_second``, ``page_size``, ``concurrency``)."""
    return _scalar(key, raw)


def yaml_error_text(exc: yaml.YAMLError) -> str:
    """A YAML error on one line, with its position: ``line 2, column 7: <problem>``."""
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or exc.context or "invalid YAML"
        if mark is not None:
            return f"invalid YAML at line {mark.line + 1}, column {mark.column + 1}: {problem}"
        return f"invalid YAML: {problem}"
    return "invalid YAML: " + " ".join(str(exc).split())


def load_file(path: Path) -> Any:
    """The YAML document of a settings file; errors name the file and the position."""
    text = read_text(path, "settings file")
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(yaml_error_text(exc), file=str(path)) from None


def _trigger_error(exc: ValidationError) -> tuple[str, str]:
    """(where, message) of a trigger's first validation error, without pydantic's prefix."""
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err["loc"])
    cause = (err.get("ctx") or {}).get("error")
    return where, str(cause) if cause is not None else err["msg"]


def apply_setting(
    options: Mapping[str, Any], jobs: VendorJobs, key: str, raw: Any
) -> dict[str, Any]:
    """A copy of ``options`` with ``key`` set to ``raw`` (a YAML scalar or mapping)."""
    if isinstance(raw, str):
        try:
            raw = yaml.safe_load(raw) if raw.strip() else raw
        except yaml.YAMLError as exc:
            raise _fail(key, yaml_error_text(exc)) from None
    out = copy.deepcopy(dict(options))
    parts = key.split(".")
    if key in _LIMITS:
        out[key] = _scalar(key, raw)
    elif key == "sweep_max_share":
        out[key] = _share(key, raw)
    elif key in ("emit_initial_events", "new_properties_are_enabled"):
        if not isinstance(raw, bool):
            raise _fail(key, f"expected true or false, got {raw!r}")
        out[key] = raw
    elif parts[0] == "schedules" and len(parts) == 2:
        if parts[1] not in SCHEDULED_JOBS:
            raise _fail(key, f"unknown job {parts[1]!r} (jobs: {', '.join(SCHEDULED_JOBS)})")
        if raw is None or raw == "none":
            out.setdefault("schedules", {})[parts[1]] = None
        else:
            try:
                spec = parse_trigger(raw)
            except ValidationError as exc:
                where, message = _trigger_error(exc)
                raise _fail(f"{key}.{where}" if where else key, message) from None
            try:
                check_fires(spec)
            except ValueError as exc:
                raise _fail(key, str(exc)) from None
            out.setdefault("schedules", {})[parts[1]] = trigger_json(spec)
    elif parts[0] == "jobs" and len(parts) == 3 and parts[2] in ("enabled", "sweep_max_share"):
        models = [j.model for j in jobs.jobs]
        if parts[1] not in models:
            raise _fail(key, f"{jobs.vendor} has no job {parts[1]!r} (jobs: {', '.join(models)})")
        if parts[2] == "sweep_max_share":
            value: Any = _share(key, raw)
        elif not isinstance(raw, bool):
            raise _fail(key, f"expected true or false, got {raw!r}")
        else:
            value = raw
        out.setdefault("jobs", {}).setdefault(parts[1], {})[parts[2]] = value
    elif parts[0] == "date_filters" and len(parts) == 3:
        value = _date_filter(jobs, key, parts[1], parts[2], raw)
        out.setdefault("date_filters", {}).setdefault(parts[1], {})[parts[2]] = value
    elif parts[0] == "connector" and len(parts) == 2:
        out.setdefault("connector", {})[parts[1]] = _vendor_option(jobs, key, parts[1], raw)
    elif parts[0] == "properties" and len(parts) == 3 and parts[2] == "enabled":
        if not parts[1]:
            raise _fail(key, "expected a property's PMS id: properties.<x_property_id>.enabled")
        if not isinstance(raw, bool):
            raise _fail(key, f"expected true or false, got {raw!r}")
        out.setdefault("properties", {}).setdefault(parts[1], {})["enabled"] = raw
    elif parts[0] == "enum_maps" and len(parts) == 3:
        if not isinstance(raw, str):
            raise _fail(key, f"expected a normalized value, got {raw!r}")
        out.setdefault("enum_maps", {}).setdefault(parts[1], {})[parts[2]] = raw
    else:
        raise _fail(
            key,
            "unknown setting (use rate_limit_per_second, page_size, concurrency, "
            "sweep_max_share, emit_initial_events, new_properties_are_enabled, "
            "schedules.<job>, jobs.<model>.enabled, "
            "jobs.<model>.sweep_max_share, date_filters.<model>.field, "
            "date_filters.<model>.window_days, properties.<x_property_id>.enabled "
            "or enum_maps.<map>.<raw>)",
        )
    return out


def apply_file(
    options: Mapping[str, Any], jobs: VendorJobs, data: Any, file: str
) -> dict[str, Any]:
    """Apply a YAML document of settings (nested mappings); errors name the file and key."""
    if not isinstance(data, Mapping):
        raise ConfigError("expected a mapping of settings", file=file)
    out = dict(options)
    for key, raw in _flatten(data):
        try:
            out = apply_setting(out, jobs, key, raw)
        except ConfigError as exc:
            raise ConfigError(str(exc).split(": ", 1)[-1], file=file, field=exc.field) from None
    return out


def _vendor_option(jobs: VendorJobs, key: str, name: str, raw: Any) -> Any:
    """A vendor option: a scalar the vendor's connector declares in ``option_keys``."""
    from syncd.connectors.registry import get_connector_class

    known = get_connector_class(jobs.vendor).option_keys
    if name not in known:
        listed = ", ".join(sorted(known)) or "none"
        raise _fail(key, f"{jobs.vendor} has no option {name!r} (its options: {listed})")
    if isinstance(raw, Mapping | list):
        raise _fail(key, f"expected a single value, got {raw!r}")
    return raw


#: Sections whose keys have two levels below them (``jobs.<model>.enabled``).
_TWO_LEVEL = ("jobs", "date_filters", "properties", "enum_maps")
#: Sections whose keys have one level below them (``connector.<name>``).
_ONE_LEVEL = ("connector",)


def _flatten(data: Mapping[str, Any]) -> list[tuple[str, Any]]:
    """The file's nested mappings as (dotted key, value) pairs, by the known shape."""
    items: list[tuple[str, Any]] = []
    for key, value in data.items():
        nested = isinstance(value, Mapping)
        if key == "schedules" and nested:
            items.extend((f"schedules.{job}", spec) for job, spec in value.items())
        elif key in _ONE_LEVEL and nested:
            items.extend((f"{key}.{name}", v) for name, v in value.items())
        elif key in _TWO_LEVEL and nested:
            for name, inner in value.items():
                if isinstance(inner, Mapping):
                    items.extend((f"{key}.{name}.{k}", v) for k, v in inner.items())
                else:
                    # Refused by apply_setting with this key named.
                    items.append((f"{key}.{name}", inner))
        else:
            items.append((str(key), value))
    return items


@dataclass(frozen=True, slots=True)
class Effective:
    """One effective setting and where it comes from."""

    key: str
    value: Any
    source: str  # "integration" or "jobs/<vendor>.yaml"


def effective(options: Mapping[str, Any], jobs: VendorJobs) -> list[Effective]:
    """Every setting's effective value with its source."""
    own = f"jobs/{jobs.vendor.lower()}.yaml"
    rows = []
    defaults = {
        "rate_limit_per_second": jobs.rate_limit_per_second,
        "page_size": jobs.page_size,
        "concurrency": jobs.concurrency,
    }
    for key, default in defaults.items():
        if key in options:
            rows.append(Effective(key, options[key], "integration"))
        else:
            rows.append(Effective(key, default, own))
    schedules = options.get("schedules", {})
    for job in SCHEDULED_JOBS:
        if job in schedules:
            rows.append(Effective(f"schedules.{job}", schedules[job], "integration"))
        else:
            spec = jobs.schedules.get(job)
            rows.append(Effective(f"schedules.{job}", trigger_json(spec) if spec else None, own))
    overrides = options.get("jobs", {})
    for job_def in jobs.jobs:
        value = overrides.get(job_def.model, {}).get("enabled")
        if value is None:
            rows.append(Effective(f"jobs.{job_def.model}.enabled", job_def.enabled, own))
        else:
            rows.append(Effective(f"jobs.{job_def.model}.enabled", value, "integration"))
        applied = apply_job_overrides(job_def, options)
        filters = options.get("date_filters", {}).get(job_def.model, {})
        for name, value in (("field", applied.date_filter), ("window_days", applied.window_days)):
            source = "integration" if name in filters else own
            rows.append(Effective(f"date_filters.{job_def.model}.{name}", value, source))
        share = overrides.get(job_def.model, {}).get("sweep_max_share")
        if share is not None:
            rows.append(Effective(f"jobs.{job_def.model}.sweep_max_share", share, "integration"))
    for key, default in (
        ("sweep_max_share", DEFAULT_SWEEP_MAX_SHARE),
        ("emit_initial_events", False),
        ("new_properties_are_enabled", True),
    ):
        if key in options:
            rows.append(Effective(key, options[key], "integration"))
        else:
            rows.append(Effective(key, default, "default"))
    for x_id, controls in sorted(options.get("properties", {}).items()):
        if isinstance(controls, Mapping) and "enabled" in controls:
            rows.append(Effective(f"properties.{x_id}.enabled", controls["enabled"], "integration"))
    for name, mapping in sorted(options.get("enum_maps", {}).items()):
        for raw, norm in sorted(mapping.items()):
            rows.append(Effective(f"enum_maps.{name}.{raw}", norm, "integration"))
    return rows
