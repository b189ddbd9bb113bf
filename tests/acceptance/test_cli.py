"""The real ``syncd`` CLI as a subprocess, against a simulator subprocess."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

SYNCD = [sys.executable, "-m", "syncd"]


def env_for(tmp_path: Path, database_url: str | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYNCD_")}
    env["SYNCD_STATE_DIR"] = str(tmp_path / "state")
    env["SYNCD_LOG_FORMAT"] = "json"
    if database_url:
        env["SYNCD_DATABASE_URL"] = database_url
    return env


def syncd(
    *args: str, env: dict[str, str], timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*SYNCD, *args], env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


@pytest.fixture
def simulator(
    sim_process: Callable[..., tuple[str, dict[str, str]]],
) -> tuple[str, dict[str, str]]:
    """``syncd sim buildium`` as a subprocess: (base URL, credentials)."""
    return sim_process(scale=30, seed=5)


def add_integration(
    env: dict[str, str], url: str, creds: dict[str, str], name: str = "Acme Homes"
) -> subprocess.CompletedProcess[str]:
    args = [
        "integrations",
        "add",
        "--vendor",
        "buildium",
        "--name",
        name,
        "--base-url",
        url,
        "--rate-limit",
        "0",
    ]
    for key, value in creds.items():
        args += ["--credential", f"{key}={value}"]
    return syncd(*args, env=env)


def test_help_documents_settings(tmp_path: Path) -> None:
    out = syncd("--help", env=env_for(tmp_path))
    assert out.returncode == 0
    for var in ("SYNCD_DATABASE_URL", "SYNCD_SECRET_KEY", "SYNCD_LOG_FORMAT", "SYNCD_CONFIG"):
        assert var in out.stdout


def test_console_script_installed() -> None:
    exe = Path(sys.executable).with_name("syncd")
    out = subprocess.run([str(exe), "--version"], capture_output=True, text=True, check=False)
    assert out.returncode == 0 and out.stdout.startswith("syncd ")


@pytest.mark.parametrize("engine", ["sqlite", "postgresql"])
def test_add_run_and_last_jobs(
    tmp_path: Path,
    simulator: tuple[str, dict[str, str]],
    engine: str,
    request: pytest.FixtureRequest,
) -> None:
    url, creds = simulator
    db = None
    if engine == "postgresql":
        db = request.getfixturevalue("pg_database_url")
    env = env_for(tmp_path, db)
    added = add_integration(env, url, creds)
    assert added.returncode == 0, added.stderr
    assert "added integration acme-homes" in added.stdout

    listed = json.loads(syncd("integrations", "list", "--json", env=env).stdout)
    assert [i["id"] for i in listed] == ["acme-homes"]
    assert listed[0]["enabled"] is False
    shown = syncd("integrations", "show", "acme-homes", "--json", env=env)
    assert creds["client_secret"] not in shown.stdout  # never shown

    run = syncd("run", "--integration", "Acme Homes", "--json", env=env)
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout)
    assert report["status"] == "SUCCESS"
    models = {m["model"]: m for m in report["models"]}
    assert set(models) == {"properties", "units", "residents", "leases", "leads", "employees"}
    assert all(m["in_cache"] > 0 for m in models.values())
    assert creds["client_secret"] not in run.stderr  # logs never carry secrets

    last = syncd("jobs", "last", "--integration", "acme-homes", "--json", env=env)
    rows = json.loads(last.stdout)
    assert rows[0]["job"] == "sync" and rows[0]["status"] == "SUCCESS"
    assert {r["job"] for r in rows[1:]} == set(models)
    assert all(r["ended_at"] and r["counts"]["records_processed"] > 0 for r in rows[1:])

    table = syncd("jobs", "last", "--integration", "acme-homes", env=env)
    assert table.returncode == 0 and "SUCCESS" in table.stdout and "leases" in table.stdout

    assert syncd("integrations", "enable", "acme-homes", env=env).returncode == 0
    listed = json.loads(syncd("integrations", "list", "--json", env=env).stdout)
    assert listed[0]["enabled"] is True


def test_wrong_credentials_exit_1(tmp_path: Path, simulator: tuple[str, dict[str, str]]) -> None:
    url, _ = simulator
    env = env_for(tmp_path)
    assert add_integration(env, url, {"client_id": "a", "client_secret": "b"}).returncode == 0
    run = syncd("run", "--integration", "acme-homes", env=env)
    assert run.returncode == 1
    assert "AuthenticationError" in run.stderr


def test_unknown_integration_exit_2(tmp_path: Path) -> None:
    out = syncd("run", "--integration", "ghost", env=env_for(tmp_path))
    assert out.returncode == 2
    assert out.stderr.strip().splitlines()[-1] == (
        "syncd: error: no integration with id or name 'ghost'"
    )


def test_bad_credential_argument_exit_2(tmp_path: Path) -> None:
    out = syncd(
        "integrations",
        "add",
        "--vendor",
        "buildium",
        "--name",
        "x",
        "--credential",
        "client_id",
        env=env_for(tmp_path),
    )
    assert out.returncode == 2
    assert "expected KEY=VALUE" in out.stderr and len(out.stderr.strip().splitlines()) == 1
    missing = syncd(
        "integrations",
        "add",
        "--vendor",
        "buildium",
        "--name",
        "x",
        "--credential",
        "client_id=1",
        env=env_for(tmp_path),
    )
    assert missing.returncode == 2 and "client_secret" in missing.stderr
    vendor = syncd("integrations", "add", "--vendor", "nope", "--name", "x", env=env_for(tmp_path))
    assert vendor.returncode == 2 and "nope" in vendor.stderr


def test_bad_config_file_names_file_and_field(tmp_path: Path) -> None:
    cfg = tmp_path / "syncd.toml"
    cfg.write_text('log_level = "loud"\n')
    out = syncd("--config", str(cfg), "integrations", "list", env=env_for(tmp_path))
    assert out.returncode == 2
    assert str(cfg) in out.stderr and "log_level" in out.stderr
    cfg.write_text('datbase_url = "x"\n')
    out = syncd("--config", str(cfg), "integrations", "list", env=env_for(tmp_path))
    assert out.returncode == 2 and "datbase_url" in out.stderr


def test_env_overrides_config_file(tmp_path: Path) -> None:
    cfg = tmp_path / "syncd.toml"
    cfg.write_text(f'database_url = "sqlite+aiosqlite:///{tmp_path}/from-file.db"\n')
    env = env_for(tmp_path, f"sqlite+aiosqlite:///{tmp_path}/from-env.db")
    out = syncd("--config", str(cfg), "db", "upgrade", env=env)
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "from-env.db").exists() and not (tmp_path / "from-file.db").exists()


def test_key_file_created_private(tmp_path: Path) -> None:
    env = env_for(tmp_path)
    assert syncd("integrations", "list", env=env).returncode == 0
    key = tmp_path / "state" / "secret.key"
    assert key.exists() and (key.stat().st_mode & 0o777) == 0o600


def test_demo_syncs_every_model(tmp_path: Path) -> None:
    env = env_for(tmp_path)
    out = syncd("demo", "--scale", "60", env=env, timeout=180)
    assert out.returncode == 0, out.stderr
    for model in ("properties", "units", "residents", "leases", "leads", "employees"):
        row = re.search(rf"│ {model}\s+│[^\n]*", out.stdout)
        assert row, out.stdout
        assert "SUCCESS" in row.group(0)
    assert (tmp_path / "state" / "syncd.db").exists()
    # A second demo reuses the integration and finds everything unchanged.
    again = syncd("demo", "--scale", "60", env=env, timeout=180)
    assert again.returncode == 0, again.stderr


def test_bad_transform_schema_names_file_and_field(tmp_path: Path) -> None:
    import shutil

    transforms = tmp_path / "transforms"
    shutil.copytree(Path(__file__).resolve().parents[2] / "transforms", transforms)
    units = transforms / "buildium" / "units.yaml"
    units.write_text(units.read_text().replace("type: money", "type: monye", 1))
    env = env_for(tmp_path) | {"SYNCD_TRANSFORMS_DIR": str(transforms)}
    added = add_integration(env, "http://127.0.0.1:9", {"client_id": "a", "client_secret": "b"})
    assert added.returncode == 0, added.stderr
    out = syncd("run", "--integration", "acme-homes", env=env)
    assert out.returncode == 2
    last = out.stderr.strip().splitlines()[-1]
    assert "units.yaml" in last and "monye" in last and "rent_amount_market_in_cents" in last


def test_sigterm_stops_run_and_records_it(
    tmp_path: Path, simulator: tuple[str, dict[str, str]]
) -> None:
    import signal
    import time

    url, creds = simulator
    env = env_for(tmp_path)
    args = ["integrations", "add", "--vendor", "buildium", "--name", "slow", "--base-url", url]
    args += ["--rate-limit", "4", "--page-size", "1"]
    for key, value in creds.items():
        args += ["--credential", f"{key}={value}"]
    assert syncd(*args, env=env).returncode == 0
    with subprocess.Popen(
        [*SYNCD, "run", "--integration", "slow", "--model", "units"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as proc:
        time.sleep(3)
        assert proc.poll() is None  # 30 pages at 4/s: still running
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=20)
        assert time.monotonic() - started < 10
    assert proc.returncode == 1
    assert err.strip().splitlines()[-1].startswith("syncd: error: interrupted")
    rows = json.loads(syncd("jobs", "last", "--integration", "slow", "--json", env=env).stdout)
    assert {r["status"] for r in rows} == {"FAILED"}
    stored = rows[1]["counts"]["fetched"]
    assert 0 < stored < 30
    # The next run resumes after the last stored page.
    run = syncd("run", "--integration", "slow", "--model", "units", "--json", env=env)
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout)
    assert report["models"][0]["counts"]["fetched"] <= 30 - stored + 1
    assert report["models"][0]["in_cache"] == 30


def test_schedules_and_job_log_commands(
    tmp_path: Path, simulator: tuple[str, dict[str, str]]
) -> None:
    url, creds = simulator
    env = env_for(tmp_path)
    assert add_integration(env, url, creds).returncode == 0
    none = syncd("schedules", "list", env=env)
    assert none.returncode == 0 and "no schedules" in none.stdout
    assert syncd("integrations", "enable", "acme-homes", env=env).returncode == 0
    rows = json.loads(syncd("schedules", "list", "--json", env=env).stdout)
    assert {(r["job"], r["state"]) for r in rows} == {("incremental", "ACTIVE"), ("full", "ACTIVE")}
    assert all(r["next_run_at"] for r in rows)
    paused = syncd("integrations", "pause", "acme-homes", "--job", "full", env=env)
    assert paused.returncode == 0, paused.stderr
    rows = json.loads(syncd("schedules", "list", "--json", env=env).stdout)
    assert {r["job"]: r["state"] for r in rows} == {"incremental": "ACTIVE", "full": "PAUSED"}
    table = syncd("schedules", "list", env=env)
    assert "every 900 s" in table.stdout and "cron 0 3 * * * UTC" in table.stdout

    assert syncd("run", "--integration", "acme-homes", "--model", "units", env=env).returncode == 0
    log = json.loads(syncd("jobs", "list", "--json", env=env).stdout)
    assert {r["job"] for r in log} == {"sync", "units"}
    assert json.loads(syncd("jobs", "list", "--status", "FAILED", "--json", env=env).stdout) == []
    shown = json.loads(syncd("jobs", "show", log[-1]["id"], "--json", env=env).stdout)
    assert [r["job"] for r in shown] == ["sync", "units"]
    missing = syncd("jobs", "show", "nope", env=env)
    assert missing.returncode == 2 and "no run 'nope'" in missing.stderr
    assert syncd("integrations", "disable", "acme-homes", env=env).returncode == 0
    assert json.loads(syncd("schedules", "list", "--json", env=env).stdout) == []


def test_integration_config_command(tmp_path: Path, simulator: tuple[str, dict[str, str]]) -> None:
    url, creds = simulator
    env = env_for(tmp_path)
    assert add_integration(env, url, creds).returncode == 0
    out = syncd(
        "integrations",
        "config",
        "acme-homes",
        "--set",
        "jobs.leads.enabled=false",
        "--set",
        "schedules.incremental={type: interval, seconds: 600}",
        "--json",
        env=env,
    )
    assert out.returncode == 0, out.stderr
    shown = json.loads(out.stdout)
    assert shown["jobs.leads.enabled"] == {"value": False, "source": "integration"}
    assert shown["jobs.units.enabled"]["source"] == "jobs/buildium.yaml"
    bad = syncd("integrations", "config", "acme-homes", "--set", "page_size=0", env=env)
    assert bad.returncode == 2 and "page_size" in bad.stderr
    # The disabled job is skipped by a run.
    run = json.loads(syncd("run", "--integration", "acme-homes", "--json", env=env).stdout)
    assert "leads" not in {m["model"] for m in run["models"]}
    # Schedules take the override once the integration is enabled.
    assert syncd("integrations", "enable", "acme-homes", env=env).returncode == 0
    rows = json.loads(syncd("schedules", "list", "--json", env=env).stdout)
    assert {r["job"]: r["trigger"].get("seconds") for r in rows}["incremental"] == 600
