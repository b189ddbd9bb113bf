"""A coarse guard on transform speed (the sync hot path).

The bound is deliberately loose (shared CI machines vary a lot); it catches
an accidental per-record YAML look-up or re-validation, not small drifts.
Typical figures on a slow 2-vCPU VM are 10-40 µs/record.
"""

from __future__ import annotations

import time

import pytest

from syncd.transform import load_transforms

MODELS = {
    "rentals": "properties",
    "units": "units",
    "tenants": "residents",
    "leases": "leases",
    "applicants": "leads",
    "users": "employees",
}


@pytest.mark.parametrize(("resource", "model"), MODELS.items())
def test_transform_speed(resource: str, model: str) -> None:
    sim = pytest.importorskip("syncd.sim.buildium_data")
    data = sim.BuildiumData(seed=11, scale=3000)
    count = min(2000, data.base_count(resource))
    page = [data.record(resource, i) for i in range(count)]
    transform = load_transforms("buildium").for_model(model)
    best = float("inf")
    for _ in range(3):
        started = time.process_time()
        ok, bad = transform.transform_page(page, "integration-perf")
        best = min(best, time.process_time() - started)
    assert bad == [] and len(ok) == count
    per_record_us = best / count * 1e6
    assert per_record_us < 400, f"{model}: {per_record_us:.1f} µs/record"
