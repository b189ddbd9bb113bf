"""Job definitions (``jobs/<vendor>.yaml``): models, order and PMS limits per vendor."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from syncd.errors import SchemaError
from syncd.models import MODEL_ORDER, MODELS
from syncd.triggers import CronSpec, IntervalSpec, TriggerSpec, WeeklySpec

# The C loader when libyaml is there: the same safe subset, several times faster.
_YAML_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _ModelJob(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    depends_on: list[str] = Field(default_factory=list)
    date_filter: Literal["updated", "created", "none"] = "updated"
    # How far back a full run asks (e.g. leads created in the last 90 days);
    # None: as far as the PMS lists.
    window_days: int | None = Field(default=None, ge=1, le=36_500)
    enabled: bool = True

    @model_validator(mode="after")
    def _window_needs_filter(self) -> _ModelJob:
        if self.window_days is not None and self.date_filter == "none":
            raise ValueError("window_days needs a date_filter (updated or created)")
        return self


class _Schedules(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    # Frequent incremental runs, and a slower full run (the only kind that
    # sees everything the PMS lists).
    incremental: TriggerSpec | None = IntervalSpec(seconds=900)
    full: TriggerSpec | None = CronSpec(expression="0 3 * * *")


class _JobFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    vendor: str
    schedules: _Schedules = _Schedules()
    rate_limit_per_second: float = Field(default=10.0, ge=0)
    page_size: int = Field(default=1000, ge=1, le=100_000)
    concurrency: int = Field(default=4, ge=1, le=64)
    models: dict[str, _ModelJob]


@dataclass(frozen=True, slots=True)
class ModelJob:
    """One model's ETL job."""

    model: str
    depends_on: tuple[str, ...]
    date_filter: str
    enabled: bool
    #: Days a full run looks back (None: everything the PMS lists).
    window_days: int | None = None


#: Scheduled job names: each runs every enabled model in dependency order.
SCHEDULED_JOBS = ("incremental", "full")


@dataclass(frozen=True, slots=True)
class VendorJobs:
    """All jobs of one vendor, in dependency order, and their default schedules."""

    vendor: str
    rate_limit_per_second: float
    page_size: int
    concurrency: int
    jobs: tuple[ModelJob, ...]
    #: job name ("incremental" / "full") → trigger spec; None = not scheduled.
    schedules: Mapping[str, IntervalSpec | CronSpec | WeeklySpec | None] = field(
        default_factory=dict
    )

    def job(self, model: str) -> ModelJob:
        """The job of ``model``; KeyError if the vendor has none."""
        for job in self.jobs:
            if job.model == model:
                return job
        raise KeyError(model)


def default_jobs_dir() -> Path:
    """The shipped job definitions: inside the wheel, or the checkout's ``jobs/``."""
    import syncd

    packaged = Path(syncd.__file__).parent / "data" / "jobs"
    if packaged.is_dir():
        return packaged
    return Path(syncd.__file__).resolve().parent.parent / "jobs"


def _order(file: str, models: Mapping[str, _ModelJob]) -> list[str]:
    # Topological order; ties broken by the unified model order so the
    # result is stable.
    rank = {m: i for i, m in enumerate(MODEL_ORDER)}
    done: list[str] = []
    visiting: set[str] = set()

    def visit(name: str) -> None:
        if name in done:
            return
        if name in visiting:
            raise SchemaError("dependency cycle", file=file, field=f"models.{name}.depends_on")
        visiting.add(name)
        for dep in sorted(models[name].depends_on, key=lambda d: rank.get(d, 99)):
            visit(dep)
        visiting.discard(name)
        done.append(name)

    for name in sorted(models, key=lambda m: rank.get(m, 99)):
        visit(name)
    return done


#: Parsed job files by (path, modification time, size): pages and API calls
#: read a vendor's jobs on every request, and parsing YAML costs milliseconds.
#: An edited file has another time or size, so it is read again.
_LOADED: dict[tuple[str, int, int], VendorJobs] = {}
_MAX_LOADED = 64


def load_jobs(vendor: str, directory: Path | None = None) -> VendorJobs:
    """Load and validate ``<directory>/<vendor>.yaml``; errors name the file and key."""
    path = (directory or default_jobs_dir()) / f"{vendor.lower()}.yaml"
    try:
        stat = path.stat()
    except FileNotFoundError as exc:
        raise SchemaError(f"no job definitions for vendor {vendor!r}", file=str(path)) from exc
    key = (str(path), stat.st_mtime_ns, stat.st_size)
    loaded = _LOADED.get(key)
    if loaded is None:
        loaded = _parse_jobs(vendor, path)
        if len(_LOADED) >= _MAX_LOADED:
            _LOADED.clear()
        _LOADED[key] = loaded
    return loaded


def _parse_jobs(vendor: str, path: Path) -> VendorJobs:
    file = str(path)
    try:
        raw: Any = yaml.load(path.read_text(), Loader=_YAML_LOADER)
    except FileNotFoundError as exc:
        raise SchemaError(f"no job definitions for vendor {vendor!r}", file=file) from exc
    except yaml.YAMLError as exc:
        raise SchemaError(f"invalid YAML: {exc}", file=file) from exc
    try:
        parsed = _JobFile.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"])
        raise SchemaError(err["msg"], file=file, field=field) from exc
    for name, job in parsed.models.items():
        if name not in MODELS:
            raise SchemaError(f"unknown model {name!r}", file=file, field=f"models.{name}")
        for dep in job.depends_on:
            if dep not in parsed.models:
                raise SchemaError(
                    f"depends on {dep!r}, which is not a job of this vendor",
                    file=file,
                    field=f"models.{name}.depends_on",
                )
    ordered = _order(file, parsed.models)
    return VendorJobs(
        vendor=parsed.vendor.upper(),
        rate_limit_per_second=parsed.rate_limit_per_second,
        page_size=parsed.page_size,
        concurrency=parsed.concurrency,
        schedules={
            "incremental": parsed.schedules.incremental,
            "full": parsed.schedules.full,
        },
        jobs=tuple(
            ModelJob(
                model=m,
                depends_on=tuple(parsed.models[m].depends_on),
                date_filter=parsed.models[m].date_filter,
                enabled=parsed.models[m].enabled,
                window_days=parsed.models[m].window_days,
            )
            for m in ordered
        ),
    )
