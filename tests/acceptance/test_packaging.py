"""The wheel carries what a non-editable install needs: jobs, transforms, migrations."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_wheel_ships_data_files(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(REPO)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    (wheel,) = tmp_path.glob("syncd-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "syncd/data/jobs/buildium.yaml" in names
    for model in ("properties", "units", "residents", "leases", "leads", "employees", "enums"):
        assert f"syncd/data/transforms/buildium/{model}.yaml" in names
    assert "syncd/store/migrations/env.py" in names
    assert "syncd/store/migrations/script.py.mako" in names
    assert any(n.startswith("syncd/store/migrations/versions/0001_") for n in names)
    assert "syncd/py.typed" in names
    assert "syncd/api/health.py" in names
    # The dashboard needs nothing from another origin: templates and assets ship.
    for asset in ("templates/base.html", "templates/integration.html", "static/dashboard.js",
                  "static/dashboard.css"):  # fmt: skip
        assert f"syncd/dashboard/{asset}" in names
