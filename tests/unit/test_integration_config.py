"""Per-integration configuration: validated settings, files, effective values with sources."""

from __future__ import annotations

from pathlib import Path

import pytest

from syncd.errors import ConfigError
from syncd.integration_config import (
    apply_file,
    apply_setting,
    connector_option,
    effective,
    load_file,
)
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
    # Leases can be filtered by their creation date too (Buildium's createddatetimefrom).
    created = apply_setting({}, JOBS, "date_filters.leases.field", "created")
    assert apply_job_overrides(JOBS.job("leases"), created).date_filter == "created"
    for key, value, message in [
        ("date_filters.leads.field", "created", "can be filtered by updated or none"),
        ("date_filters.leases.field", "signed", "can be filtered by created or updated or none"),
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


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        (
            "schedules.incremental",
            "{type: cron, expression: [a}",
            "invalid YAML at line 1, column 28: expected ',' or ']', but got '}'",
        ),
        (
            "schedules.full",
            "{a: b: c}",
            "invalid YAML at line 1, column 6: expected ',' or '}', but got ':'",
        ),
        ("jobs.leads.enabled", "'unclosed", "invalid YAML at line 1, column 10:"),
    ],
)
def test_a_yaml_error_is_one_line_naming_key_and_position(
    key: str, value: str, message: str
) -> None:
    with pytest.raises(ConfigError) as err:
        apply_setting({}, JOBS, key, value)
    assert str(err.value).startswith(f"{key}: {message}")
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(
    ("value", "named"),
    [
        ("{type: cron, expression: '0 0 31 2 *'}", "schedules.full"),
        ("{type: cron, expression: '0 0 31 2 *', timezone: America/Chicago}", "schedules.full"),
    ],
)
def test_a_cron_schedule_that_never_fires_is_refused(value: str, named: str) -> None:
    with pytest.raises(ConfigError) as err:
        apply_setting({}, JOBS, "schedules.full", value)
    assert err.value.field == named
    assert str(err.value) == (
        "schedules.full: the cron expression '0 0 31 2 *' never fires "
        "(no date matches its day, month and weekday)"
    )


def test_pydantic_prefix_left_out_of_trigger_errors() -> None:
    with pytest.raises(ConfigError) as err:
        apply_setting({}, JOBS, "schedules.full", "{type: cron, expression: '99 * * * *'}")
    assert "Value error" not in str(err.value) and "invalid cron expression" in str(err.value)


def test_settings_file_errors_name_the_file_and_the_position(tmp_path: Path) -> None:
    bad = tmp_path / "acme.yaml"
    bad.write_text("jobs:\n  leads: {enabled: false\npage_size: 5\n")
    with pytest.raises(ConfigError) as err:
        load_file(bad)
    assert str(err.value) == (
        f"{bad}: invalid YAML at line 3, column 10: expected ',' or '}}', but got ':'"
    )
    assert "\n" not in str(err.value)
    latin = tmp_path / "latin1.yaml"
    latin.write_bytes(b"page_size: 5\n# caf\xe9\n")
    with pytest.raises(ConfigError, match=r"not UTF-8 text \(byte 0xe9 on line 2\)"):
        load_file(latin)
    with pytest.raises(ConfigError, match="cannot read the settings file: it is a directory"):
        load_file(tmp_path)
    with pytest.raises(ConfigError, match="settings file not found"):
        load_file(tmp_path / "absent.yaml")
    never = tmp_path / "never.yaml"
    never.write_text("schedules:\n  full: {type: cron, expression: '0 0 31 2 *'}\n")
    with pytest.raises(ConfigError) as err:
        apply_file({}, JOBS, load_file(never), str(never))
    assert err.value.file == str(never) and err.value.field == "schedules.full"
    assert "never fires" in str(err.value)


def test_connector_options_must_be_finite() -> None:
    for value in (float("inf"), float("nan"), "-inf"):
        with pytest.raises(ConfigError, match="rate_limit_per_second"):
            connector_option("rate_limit_per_second", value)
    assert connector_option("page_size", "50") == 50


def test_vendor_options_reach_the_connector(monkeypatch: pytest.MonkeyPatch) -> None:
    from syncd.connectors.buildium import BuildiumConnector
    from syncd.domain import Environment, Integration
    from syncd.runner import connector_options

    with pytest.raises(ConfigError, match=r"connector\.region.*BUILDIUM has no option 'region'"):
        apply_setting({}, JOBS, "connector.region", "eu")
    monkeypatch.setattr(BuildiumConnector, "option_keys", {"region": "which data centre"})
    opts = apply_setting({}, JOBS, "connector.region", "eu")
    with pytest.raises(ConfigError, match="expected a single value"):
        apply_setting({}, JOBS, "connector.region", "{a: 1}")
    assert opts == {"connector": {"region": "eu"}}
    # A settings file nests them the same way.
    nested = apply_file({}, JOBS, {"connector": {"region": "us"}}, "acme.yaml")
    assert nested == {"connector": {"region": "us"}}
    integration = Integration(
        id="i",
        name="i",
        vendor="BUILDIUM",
        environment=Environment.SANDBOX,
        enabled=True,
        base_url=None,
        credentials={},
        options=opts,
    )
    assert dict(connector_options(JOBS, integration).extra) == {"region": "eu"}
