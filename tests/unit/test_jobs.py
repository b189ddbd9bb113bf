"""Job definitions: dependency order and validation naming file and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from syncd.errors import SchemaError
from syncd.jobs import load_jobs


def test_buildium_jobs_in_dependency_order() -> None:
    jobs = load_jobs("buildium")
    order = [j.model for j in jobs.jobs]
    assert order[0] == "properties"
    for job in jobs.jobs:
        for dep in job.depends_on:
            assert order.index(dep) < order.index(job.model)
    assert jobs.job("employees").date_filter == "none"
    assert jobs.rate_limit_per_second == 10


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ("vendor: X\nmodels:\n  houses: {}\n", "models.houses"),
        ("vendor: X\nmodels:\n  units: {depends_on: [leases]}\n", "models.units.depends_on"),
        ("vendor: X\npage_size: 0\nmodels: {}\n", "page_size"),
        ("vendor: X\nmodels:\n  units: {date_filter: sometimes}\n", "models.units.date_filter"),
        (
            "vendor: X\nmodels:\n  units: {depends_on: [leases]}\n"
            "  leases: {depends_on: [units]}\n",
            "depends_on",
        ),
    ],
)
def test_bad_job_file(tmp_path: Path, body: str, field: str) -> None:
    (tmp_path / "x.yaml").write_text(body)
    with pytest.raises(SchemaError) as err:
        load_jobs("x", tmp_path)
    assert err.value.file == str(tmp_path / "x.yaml")
    assert field in (err.value.field or "")


def test_missing_vendor_file(tmp_path: Path) -> None:
    with pytest.raises(SchemaError, match="no job definitions"):
        load_jobs("nothing", tmp_path)
