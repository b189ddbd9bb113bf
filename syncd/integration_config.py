"""Per-integration configuration: overrides of the vendor's job definitions.

Stored in the integration's ``options`` (in the database) and edited with
``syncd integrations config ID --set KEY=VALUE`` or ``--file F``. Keys:

- ``rate_limit_per_second``, ``page_size``, ``concurrency``: connector controls
  (the rate is the integration's maximum, shared by all its jobs);
- ``schedules.incremental``, ``schedules.full``: a trigger (interval, cron or
  weekly slots) or ``none`` to unschedule;
- ``jobs.<model>.enabled``: run a model or not;
- ``enum_maps.<map>.<raw value>``: a custom normalization.

Every value is validated before it is stored; an invalid one is refused with
its key named.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import yaml
from pydantic import ValidationError

from syncd.errors import ConfigError
from syncd.jobs import SCHEDULED_JOBS, VendorJobs
from syncd.triggers import parse_trigger, trigger_json

_LIMITS: dict[str, tuple[type, float, float]] = {
    "rate_limit_per_second": (float, 0, 10_000),
    "page_size": (int, 1, 100_000),
    "concurrency": (int, 1, 64),
}


def _fail(key: str, message: str) -> ConfigError:
    return ConfigError(message, field=key)


def _scalar(key: str, raw: Any) -> Any:
    kind, low, high = _LIMITS[key]
    try:
        value = kind(raw)
    except (TypeError, ValueError):
        raise _fail(key, f"expected a number, got {raw!r}") from None
    if not low <= value <= high:
        raise _fail(key, f"must be between {low:g} and {high:g}")
    return value


def apply_setting(
    options: Mapping[str, Any], jobs: VendorJobs, key: str, raw: Any
) -> dict[str, Any]:
    """A copy of ``options`` with ``key`` set to ``raw`` (a YAML scalar or mapping)."""
    if isinstance(raw, str):
        try:
            raw = yaml.safe_load(raw) if raw.strip() else raw
        except yaml.YAMLError as exc:
            raise _fail(key, f"invalid value: {exc}") from None
    out = copy.deepcopy(dict(options))
    parts = key.split(".")
    if key in _LIMITS:
        out[key] = _scalar(key, raw)
    elif parts[0] == "schedules" and len(parts) == 2:
        if parts[1] not in SCHEDULED_JOBS:
            raise _fail(key, f"unknown job {parts[1]!r} (jobs: {', '.join(SCHEDULED_JOBS)})")
        if raw is None or raw == "none":
            out.setdefault("schedules", {})[parts[1]] = None
        else:
            try:
                spec = parse_trigger(raw)
            except ValidationError as exc:
                err = exc.errors()[0]
                where = ".".join(str(p) for p in err["loc"])
                raise _fail(f"{key}.{where}" if where else key, err["msg"]) from None
            out.setdefault("schedules", {})[parts[1]] = trigger_json(spec)
    elif parts[0] == "jobs" and len(parts) == 3 and parts[2] == "enabled":
        models = [j.model for j in jobs.jobs]
        if parts[1] not in models:
            raise _fail(key, f"{jobs.vendor} has no job {parts[1]!r} (jobs: {', '.join(models)})")
        if not isinstance(raw, bool):
            raise _fail(key, f"expected true or false, got {raw!r}")
        out.setdefault("jobs", {}).setdefault(parts[1], {})["enabled"] = raw
    elif parts[0] == "enum_maps" and len(parts) == 3:
        if not isinstance(raw, str):
            raise _fail(key, f"expected a normalized value, got {raw!r}")
        out.setdefault("enum_maps", {}).setdefault(parts[1], {})[parts[2]] = raw
    else:
        raise _fail(
            key,
            "unknown setting (use rate_limit_per_second, page_size, concurrency, "
            "schedules.<job>, jobs.<model>.enabled or enum_maps.<map>.<raw>)",
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


def _flatten(data: Mapping[str, Any]) -> list[tuple[str, Any]]:
    """The file's nested mappings as (dotted key, value) pairs, by the known shape."""
    items: list[tuple[str, Any]] = []
    for key, value in data.items():
        nested = isinstance(value, Mapping)
        if key == "schedules" and nested:
            items.extend((f"schedules.{job}", spec) for job, spec in value.items())
        elif key == "jobs" and nested:
            for model, controls in value.items():
                if isinstance(controls, Mapping):
                    items.extend((f"jobs.{model}.{k}", v) for k, v in controls.items())
                else:
                    items.append((f"jobs.{model}", controls))
        elif key == "enum_maps" and nested:
            for name, mapping in value.items():
                if isinstance(mapping, Mapping):
                    items.extend((f"enum_maps.{name}.{raw}", n) for raw, n in mapping.items())
                else:
                    items.append((f"enum_maps.{name}", mapping))
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
    for name, mapping in sorted(options.get("enum_maps", {}).items()):
        for raw, norm in sorted(mapping.items()):
            rows.append(Effective(f"enum_maps.{name}.{raw}", norm, "integration"))
    return rows
