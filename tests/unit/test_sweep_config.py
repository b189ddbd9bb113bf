"""Per-integration controls of deletion sweeps and data events: validation and defaults."""

from __future__ import annotations

import pytest

from syncd.errors import ConfigError
from syncd.integration_config import (
    DEFAULT_SWEEP_MAX_SHARE,
    apply_file,
    apply_setting,
    effective,
    emit_initial_events,
    sweep_max_share,
)
from syncd.jobs import load_jobs

JOBS = load_jobs("buildium")


def test_sweep_share_and_initial_events_apply_with_their_source() -> None:
    assert sweep_max_share({}, "units") == DEFAULT_SWEEP_MAX_SHARE == 0.1
    assert emit_initial_events({}) is False
    opts = apply_setting({}, JOBS, "sweep_max_share", "0.25")
    opts = apply_setting(opts, JOBS, "jobs.leases.sweep_max_share", "0.5")
    opts = apply_setting(opts, JOBS, "emit_initial_events", "true")
    assert sweep_max_share(opts, "units") == 0.25
    assert sweep_max_share(opts, "leases") == 0.5
    assert emit_initial_events(opts) is True
    rows = {r.key: (r.value, r.source) for r in effective(opts, JOBS)}
    assert rows["sweep_max_share"] == (0.25, "integration")
    assert rows["jobs.leases.sweep_max_share"] == (0.5, "integration")
    assert rows["emit_initial_events"] == (True, "integration")
    defaults = {r.key: (r.value, r.source) for r in effective({}, JOBS)}
    assert defaults["sweep_max_share"] == (0.1, "default")
    assert defaults["emit_initial_events"] == (False, "default")


def test_a_file_sets_them_too() -> None:
    data = {"sweep_max_share": 0, "jobs": {"units": {"sweep_max_share": 1}}}
    opts = apply_file({}, JOBS, data, "acme.yaml")
    assert sweep_max_share(opts, "units") == 1.0 and sweep_max_share(opts, "leads") == 0.0


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("sweep_max_share", "10%", "expected a share between 0 and 1"),
        ("sweep_max_share", "10", "must be between 0 and 1"),
        ("sweep_max_share", "-0.1", "must be between 0 and 1"),
        ("sweep_max_share", "true", "expected a share"),
        ("jobs.leases.sweep_max_share", "2", "must be between 0 and 1"),
        ("jobs.floor_plans.sweep_max_share", "0.1", "has no job 'floor_plans'"),
        ("emit_initial_events", "yes please", "expected true or false"),
    ],
)
def test_invalid_values_are_refused_naming_the_key(key: str, value: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        apply_setting({}, JOBS, key, value)
    assert info.value.field == key
    assert key in str(info.value)
