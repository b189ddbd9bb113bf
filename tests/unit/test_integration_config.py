"""Per-integration configuration: validated settings, files, effective values with sources."""

from __future__ import annotations

from pathlib import Path

import pytest

from syncd.errors import ConfigError
from syncd.integration_config import apply_file, apply_setting, effective
from syncd.jobs import load_jobs

JOBS = load_jobs("buildium")


def test_settings_apply_and_show_their_source() -> None:
    opts = apply_setting({}, JOBS, "jobs.leads.enabled", "false")
    opts = apply_setting(opts, JOBS, "rate_limit_per_second", "1")
    opts = apply_setting(opts, JOBS, "schedules.incremental", "{type: interval, seconds: 600}")
    opts = apply_setting(opts, JOBS, "schedules.full", "none")
    opts = apply_setting(opts, JOBS, "enum_maps.lease_status.Past", "OTHER")
    rows = {r.key: (r.value, r.source) for r in effective(opts, JOBS)}
    assert rows["jobs.leads.enabled"] == (False, "integration")
    assert rows["jobs.units.enabled"] == (True, "jobs/buildium.yaml")
    assert rows["rate_limit_per_second"] == (1.0, "integration")
    assert rows["page_size"] == (1000, "jobs/buildium.yaml")
    assert rows["schedules.incremental"] == (
        {"type": "interval", "seconds": 600, "timezone": "UTC"},
        "integration",
    )
    assert rows["schedules.full"] == (None, "integration")
    assert rows["enum_maps.lease_status.Past"] == ("OTHER", "integration")


@pytest.mark.parametrize(
    ("key", "value", "named"),
    [
        ("jobs.floor_plans.enabled", "false", "jobs.floor_plans.enabled"),
        ("jobs.leads.enabled", "maybe", "jobs.leads.enabled"),
        ("rate_limit_per_second", "-1", "rate_limit_per_second"),
        ("page_size", "lots", "page_size"),
        ("schedules.hourly", "{type: interval, seconds: 60}", "schedules.hourly"),
        ("schedules.incremental", "{type: interval, seconds: 0}", "schedules.incremental"),
        ("schedules.full", "{type: cron, expression: '99 * * * *'}", "schedules.full"),
        ("colour", "blue", "colour"),
    ],
)
def test_invalid_values_are_refused_with_the_key(key: str, value: str, named: str) -> None:
    with pytest.raises(ConfigError) as err:
        apply_setting({}, JOBS, key, value)
    assert err.value.field is not None and err.value.field.startswith(named)


def test_file_of_settings(tmp_path: Path) -> None:
    import yaml

    data = yaml.safe_load(
        "page_size: 200\n"
        "jobs:\n  employees: {enabled: false}\n"
        "schedules:\n  incremental: {type: cron, expression: '*/20 9-17 * * mon-fri',"
        " timezone: America/Chicago}\n"
        "enum_maps:\n  lease_status: {Future: ACTIVE}\n"
    )
    opts = apply_file({}, JOBS, data, "acme.yaml")
    assert opts["page_size"] == 200
    assert opts["jobs"] == {"employees": {"enabled": False}}
    assert opts["schedules"]["incremental"]["timezone"] == "America/Chicago"
    assert opts["enum_maps"] == {"lease_status": {"Future": "ACTIVE"}}
    with pytest.raises(ConfigError) as err:
        apply_file({}, JOBS, {"jobs": {"units": {"enabled": "sometimes"}}}, "bad.yaml")
    assert err.value.file == "bad.yaml" and err.value.field == "jobs.units.enabled"


def test_date_filter_overrides_are_validated_and_applied() -> None:
    from syncd.integration_config import apply_job_overrides

    opts = apply_setting({}, JOBS, "date_filters.leads.window_days", "90")
    rows = {r.key: (r.value, r.source) for r in effective(opts, JOBS)}
    assert rows["date_filters.leads.window_days"] == (90, "integration")
    assert rows["date_filters.leads.field"] == ("updated", "jobs/buildium.yaml")
    assert apply_job_overrides(JOBS.job("leads"), opts).window_days == 90
    opts = apply_setting(opts, JOBS, "date_filters.leads.field", "none")
    # No filter, no window.
    assert apply_job_overrides(JOBS.job("leads"), opts).window_days is None
    for key, value, message in [
        ("date_filters.leads.field", "created", "can be filtered by updated or none"),
        ("date_filters.employees.window_days", "30", "no date filter"),
        ("date_filters.leads.window_days", "0", "whole number of days"),
        ("date_filters.floor_plans.window_days", "3", "no job 'floor_plans'"),
    ]:
        with pytest.raises(ConfigError, match=message) as err:
            apply_setting({}, JOBS, key, value)
        assert err.value.field == key


def test_properties_can_be_disabled_by_pms_id() -> None:
    from syncd.integration_config import disabled_properties

    opts = apply_setting({}, JOBS, "properties.1234.enabled", "false")
    opts = apply_setting(opts, JOBS, "properties.77.enabled", "true")
    assert disabled_properties(opts) == {"1234"}
    rows = {r.key: (r.value, r.source) for r in effective(opts, JOBS)}
    assert rows["properties.1234.enabled"] == (False, "integration")
    with pytest.raises(ConfigError) as err:
        apply_setting({}, JOBS, "properties.1234.enabled", "perhaps")
    assert err.value.field == "properties.1234.enabled"
