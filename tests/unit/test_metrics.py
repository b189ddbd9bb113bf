"""Metrics: values reach the exposition, and every instance has its own registry."""

from __future__ import annotations

from prometheus_client import REGISTRY, CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from syncd import __version__
from syncd.domain import RunStatus
from syncd.metrics import Metrics

Key = tuple[str, tuple[tuple[str, str], ...]]


def samples(metrics: Metrics) -> dict[Key, float]:
    """Every sample of the rendered exposition, keyed by name and sorted labels."""
    body, _ = metrics.render()
    found: dict[Key, float] = {}
    for family in text_string_to_metric_families(body.decode()):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def key(name: str, **labels: str) -> Key:
    return (name, tuple(sorted(labels.items())))


def test_model_run_is_rendered() -> None:
    m = Metrics()
    m.record_model_run(
        vendor="BUILDIUM",
        model="leases",
        status=RunStatus.SUCCESS,
        duration_seconds=12.5,
        processed=250,
        quarantined=3,
        requests=7,
        throttled=2,
        retries=4,
    )
    m.record_model_run(
        vendor="BUILDIUM", model="leases", status=RunStatus.FAILED, duration_seconds=0.05
    )
    s = samples(m)
    lm = {"vendor": "BUILDIUM", "model": "leases"}
    assert s[key("syncd_runs_total", **lm, status="SUCCESS")] == 1
    assert s[key("syncd_runs_total", **lm, status="FAILED")] == 1
    assert s[key("syncd_records_processed_total", **lm)] == 250
    assert s[key("syncd_records_quarantined_total", **lm)] == 3
    assert s[key("syncd_run_duration_seconds_count", **lm)] == 2
    assert s[key("syncd_run_duration_seconds_sum", **lm)] == 12.55
    assert s[key("syncd_run_duration_seconds_bucket", **lm, le="0.1")] == 1
    assert s[key("syncd_run_duration_seconds_bucket", **lm, le="30.0")] == 2
    assert s[key("syncd_run_duration_seconds_bucket", **lm, le="7200.0")] == 2
    assert s[key("syncd_pms_requests_total", vendor="BUILDIUM")] == 7
    assert s[key("syncd_pms_throttled_total", vendor="BUILDIUM")] == 2
    assert s[key("syncd_pms_retries_total", vendor="BUILDIUM")] == 4


def test_pms_traffic_lag_leases_tick_and_build_info() -> None:
    m = Metrics(version="9.9.9")
    m.record_pms_traffic(vendor="APPFOLIO", requests=3, throttled=1)
    m.record_schedule_lag(0.3)
    m.record_schedule_lag(-5.0)  # clock skew between nodes counts as on time
    m.set_leases_held(3)
    m.mark_scheduler_tick(1_700_000_000.0)
    s = samples(m)
    assert s[key("syncd_pms_requests_total", vendor="APPFOLIO")] == 3
    assert s[key("syncd_pms_throttled_total", vendor="APPFOLIO")] == 1
    assert s[key("syncd_pms_retries_total", vendor="APPFOLIO")] == 0
    assert s[key("syncd_schedule_lag_seconds_count")] == 2
    assert s[key("syncd_schedule_lag_seconds_bucket", le="0.01")] == 1
    assert s[key("syncd_schedule_lag_seconds_bucket", le="0.5")] == 2
    assert s[key("syncd_schedule_lag_seconds_bucket", le="600.0")] == 2
    assert s[key("syncd_leases_held")] == 3
    assert s[key("syncd_scheduler_last_tick_timestamp_seconds")] == 1_700_000_000.0
    assert s[key("syncd_build_info", version="9.9.9")] == 1


def test_default_version_and_content_type() -> None:
    m = Metrics()
    body, content_type = m.render()
    assert content_type.startswith("text/plain")
    assert f'syncd_build_info{{version="{__version__}"}} 1.0' in body.decode()
    # Gauges and unlabelled histograms are present before anything is recorded.
    assert "syncd_leases_held 0.0" in body.decode()
    assert "# TYPE syncd_run_duration_seconds histogram" in body.decode()


def test_tracked_leases_are_read_at_scrape_time() -> None:
    m = Metrics()
    held = [2]
    m.track_leases_held(lambda: held[0])
    assert samples(m)[key("syncd_leases_held")] == 2
    held[0] = 5
    assert samples(m)[key("syncd_leases_held")] == 5


def test_negative_counts_are_ignored() -> None:
    m = Metrics()
    m.record_model_run(vendor="V", model="m", status="SUCCESS", duration_seconds=-1.0, processed=-4)
    s = samples(m)
    assert s[key("syncd_records_processed_total", vendor="V", model="m")] == 0
    assert s[key("syncd_run_duration_seconds_sum", vendor="V", model="m")] == 0


def test_instances_do_not_collide() -> None:
    a, b = Metrics(), Metrics()
    assert a.registry is not b.registry
    a.record_model_run(
        vendor="BUILDIUM", model="units", status="SUCCESS", duration_seconds=1, processed=10
    )
    a.set_leases_held(4)
    assert (
        a.registry.get_sample_value(
            "syncd_records_processed_total", {"vendor": "BUILDIUM", "model": "units"}
        )
        == 10
    )
    assert (
        b.registry.get_sample_value(
            "syncd_records_processed_total", {"vendor": "BUILDIUM", "model": "units"}
        )
        is None
    )
    assert b.registry.get_sample_value("syncd_leases_held") == 0
    assert b"BUILDIUM" not in b.render()[0]


def test_given_registry_is_used_and_global_one_untouched() -> None:
    registry = CollectorRegistry()
    m = Metrics(registry=registry)
    m.set_leases_held(1)
    assert registry.get_sample_value("syncd_leases_held") == 1
    assert REGISTRY.get_sample_value("syncd_leases_held") is None
