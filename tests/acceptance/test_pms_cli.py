"""``syncd pms``, ``syncd sim VENDOR`` and ``integrations add`` for every PMS, as subprocesses."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from test_cli import env_for, error_line, syncd

from syncd.connectors.registry import get_connector_class, known_vendors

VENDORS = [v.lower() for v in known_vendors()]


def test_pms_list_names_every_pms_with_its_credentials(tmp_path: Path) -> None:
    out = syncd("pms", "list", "--json", env=env_for(tmp_path))
    assert out.returncode == 0, out.stderr
    listed = {p["vendor"]: p for p in json.loads(out.stdout)}
    assert sorted(listed) == ["BUILDIUM", "PROPERTYWARE", "RENTMANAGER", "RESMAN"]
    for vendor, profile in listed.items():
        cls = get_connector_class(vendor)
        assert profile["credential_keys"] == list(cls.credential_keys)
        assert profile["models"], vendor
        assert all(m["read"] for m in profile["models"].values()), vendor
    assert listed["RENTMANAGER"]["rate_limit"] == "500 requests/min"
    assert listed["BUILDIUM"]["rate_limit"] == "10 requests/s"
    table = syncd("pms", "list", env=env_for(tmp_path))
    assert table.returncode == 0
    for vendor in VENDORS:
        assert vendor in table.stdout


def test_pms_show_prints_per_model_support(tmp_path: Path) -> None:
    out = syncd("pms", "show", "rentmanager", env=env_for(tmp_path))
    assert out.returncode == 0, out.stderr
    assert "Rent Manager" in out.stdout
    assert "username, password, location_id" in out.stdout
    for model in ("properties", "units", "leases", "leads", "employees"):
        assert model in out.stdout
    unknown = syncd("pms", "show", "yardi", env=env_for(tmp_path))
    assert unknown.returncode == 2
    assert "unknown vendor 'yardi'" in error_line(unknown)


@pytest.mark.parametrize("vendor", VENDORS)
def test_integrations_add_names_a_missing_or_unknown_credential(
    tmp_path: Path, vendor: str
) -> None:
    env = env_for(tmp_path)
    keys = get_connector_class(vendor).credential_keys
    secret = "s3cr3t-never-shown"
    given = [f"--credential={k}={secret}" for k in keys[1:]]
    base = ["integrations", "add", "--vendor", vendor, "--name", "x"]
    base += ["--base-url", "http://127.0.0.1:9"]
    missing = syncd(*base, *given, env=env)
    assert missing.returncode == 2
    assert f"needs {keys[0]}" in error_line(missing)
    unknown = syncd(*base, *given, f"--credential={keys[0]}=a", "--credential=colour=b", env=env)
    assert unknown.returncode == 2
    assert "takes no credential 'colour'" in error_line(unknown)
    assert secret not in missing.stderr + unknown.stderr
    assert json.loads(syncd("integrations", "list", "--json", env=env).stdout) == []


@pytest.mark.parametrize("vendor", VENDORS)
def test_sim_vendor_serves_and_syncs(tmp_path: Path, vendor: str) -> None:
    """``syncd sim VENDOR`` + ``integrations add`` + ``syncd run``: the three-command flow."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "syncd", "sim", vendor, "--scale", "20", "--rate-limit", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout is not None
        keys = len(get_connector_class(vendor).credential_keys)
        url, creds = "", {}
        while not url or len(creds) < keys:
            line = proc.stdout.readline()
            assert line, "the simulator exited before printing its address"
            if line.startswith("base_url="):
                url = line.strip().split("=", 1)[1]
            elif line.startswith("credential "):
                key, value = line.strip().split(" ", 1)[1].split("=", 1)
                creds[key] = value
        env = env_for(tmp_path)
        add = ["integrations", "add", "--vendor", vendor, "--name", "Acme", "--base-url", url]
        add += ["--rate-limit", "0"]
        for key, value in creds.items():
            add += ["--credential", f"{key}={value}"]
        added = syncd(*add, env=env)
        assert added.returncode == 0, added.stderr
        run = syncd("run", "--integration", "acme", "--json", env=env)
        assert run.returncode == 0, run.stderr[-2000:]
        report = json.loads(run.stdout)
        assert report["status"] == "SUCCESS"
        assert report["counts"]["created"] > 0
        synced = {m["model"] for m in report["models"] if m["status"] == "SUCCESS"}
        assert {"properties", "units", "leases"} <= synced
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        if proc.stdout is not None:
            proc.stdout.close()
