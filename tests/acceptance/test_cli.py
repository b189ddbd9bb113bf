"""The real ``syncd`` CLI as a subprocess, against a simulator subprocess."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

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
    env: dict[str, str],
    url: str,
    creds: dict[str, str],
    name: str = "Acme Homes",
    *,
    rate_limit: float = 0,
    page_size: int | None = None,
) -> subprocess.CompletedProcess[str]:
    args = ["integrations", "add", "--vendor", "buildium", "--name", name, "--base-url", url]
    args += ["--rate-limit", f"{rate_limit:g}"]
    if page_size is not None:
        args += ["--page-size", str(page_size)]
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
    # It says where the dashboard is and prints an admin key to sign in with.
    assert "open http://127.0.0.1:8080/dashboard" in out.stdout
    first_key = re.search(r"admin key \(shown once[^)]*\): (sk_\S+)", out.stdout)
    assert first_key, out.stdout
    # A second demo reuses the integration and finds everything unchanged.
    again = syncd("demo", "--scale", "60", env=env, timeout=180)
    assert again.returncode == 0, again.stderr
    second_key = re.search(r"admin key \(shown once[^)]*\): (sk_\S+)", again.stdout)
    assert second_key and second_key.group(1) != first_key.group(1)
    # The first demo's key was revoked: only the newest one signs in.
    keys = json.loads(syncd("keys", "list", "--json", env=env).stdout)
    demo_keys = [k for k in keys if k["name"].startswith("demo-dashboard-")]
    assert len(demo_keys) == 2 and [k["scope"] for k in demo_keys] == ["admin", "admin"]
    assert sorted(bool(k["revoked_at"]) for k in demo_keys) == [False, True]
    # The demo integration points at no port the demo once used: each run
    # starts its own simulator, so a later run works (and sends the demo
    # credentials nowhere else).
    shown = json.loads(syncd("integrations", "show", "demo-buildium", "--json", env=env).stdout)
    assert shown["base_url"] is None
    assert shown["options"]["simulator"] == {"seed": 1, "scale": 60}
    later = syncd("run", "--integration", "demo-buildium", "--json", env=env, timeout=180)
    assert later.returncode == 0, later.stderr
    assert json.loads(later.stdout)["status"] == "SUCCESS"


def test_a_killed_run_leaves_nothing_running(
    tmp_path: Path, simulator: tuple[str, dict[str, str]]
) -> None:
    import signal
    import time

    url, creds = simulator
    env = env_for(tmp_path)
    added = add_integration(env, url, creds, "slow", rate_limit=6, page_size=2)
    assert added.returncode == 0, added.stderr
    earlier: set[str] = set()
    for _ in range(3):
        with subprocess.Popen(
            [*SYNCD, "run", "--integration", "slow", "--full"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        ) as proc:
            deadline = time.monotonic() + 60
            while True:
                rows = json.loads(syncd("jobs", "list", "--json", env=env).stdout)
                # A model run of this run (the killed one before it stays
                # RUNNING until this run abandons it) well into its listing,
                # with models still to come: the run cannot end before the kill.
                if any(
                    r["status"] == "RUNNING"
                    and r["root_run_id"] not in earlier
                    and r["job"] in ("units", "residents", "leases")
                    and r["counts"]["fetched"] > 4
                    for r in rows
                ):
                    break
                assert proc.poll() is None and time.monotonic() < deadline
            proc.send_signal(signal.SIGKILL)
            proc.wait()
        # kill -9 leaves its root and model runs RUNNING ...
        rows = json.loads(syncd("jobs", "list", "--json", env=env).stdout)
        assert {r["job"] for r in rows if r["status"] == "RUNNING"} >= {"sync"}
        earlier |= {r["root_run_id"] for r in rows}
    # ... until the next run sees that their process is gone.
    run = syncd("run", "--integration", "slow", "--model", "properties", env=env)
    assert run.returncode == 0, run.stderr
    rows = json.loads(syncd("jobs", "list", "--limit", "500", "--json", env=env).stdout)
    assert [r for r in rows if r["status"] == "RUNNING"] == []
    killed = [r for r in rows if r["status"] == "FAILED"]
    assert len([r for r in killed if r["job"] == "sync"]) == 3
    assert all("is gone" in r["error"] for r in killed)
    # Each killed root adds up its model runs.
    for root in (r for r in killed if r["job"] == "sync"):
        children = [r for r in rows if r["parent_run_id"] == root["id"]]
        assert root["counts"]["fetched"] == sum(c["counts"]["fetched"] for c in children) > 0


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
    # Recorded where operators look: the job log says why.
    (root,) = json.loads(
        syncd("jobs", "last", "--integration", "acme-homes", "--json", env=env).stdout
    )
    assert root["status"] == "FAILED" and "monye" in root["error"]


def test_sigterm_stops_run_and_records_it(
    tmp_path: Path, simulator: tuple[str, dict[str, str]]
) -> None:
    import signal
    import time

    url, creds = simulator
    env = env_for(tmp_path)
    added = add_integration(env, url, creds, "slow", rate_limit=4, page_size=1)
    assert added.returncode == 0, added.stderr
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


# -- one-line errors ----------------------------------------------------------


def error_line(out: subprocess.CompletedProcess[str]) -> str:
    """The one ``syncd: error:`` line of a failed command (log lines aside); no traceback."""
    assert "Traceback" not in out.stderr, out.stderr
    lines = [line for line in out.stderr.splitlines() if line and not line.startswith("{")]
    assert len(lines) == 1, out.stderr
    assert lines[0].startswith("syncd: error: "), out.stderr
    return lines[0].removeprefix("syncd: error: ")


def test_unreadable_config_file_is_one_line_naming_it(tmp_path: Path) -> None:
    env = env_for(tmp_path)
    (tmp_path / "plain.txt").write_text("x")
    latin = tmp_path / "latin1.toml"
    latin.write_bytes(b"# caf\xe9\n")
    for path, reason in [
        (tmp_path, "cannot read the configuration file: it is a directory"),
        (
            tmp_path / "plain.txt" / "syncd.toml",
            "cannot read the configuration file: Not a directory",
        ),
        (latin, "the configuration file is not UTF-8 text (byte 0xe9 on line 1)"),
    ]:
        out = syncd("--config", str(path), "integrations", "list", env=env)
        assert out.returncode == 2
        assert error_line(out) == f"{path}: {reason}"


def test_secret_key_file_problems_are_one_line(tmp_path: Path) -> None:
    (tmp_path / "plain.txt").write_text("x")
    named = tmp_path / "keys" / "secret.key"
    for path, expected in [
        (tmp_path, f"the secret key file {tmp_path} is a directory"),
        (tmp_path / "plain.txt" / "k", f"cannot reach the secret key file {tmp_path}/plain.txt/k"),
        (named, f"the secret key file {named} does not exist; make one with python3 -c"),
    ]:
        env = env_for(tmp_path) | {"SYNCD_SECRET_KEY_FILE": str(path)}
        out = syncd("integrations", "list", env=env)
        assert out.returncode == 2
        assert error_line(out).startswith(f"SYNCD_SECRET_KEY_FILE: {expected}")
    # Nothing was made up in its place: a fresh key would not read the stored credentials.
    assert not named.parent.exists()
    hint = error_line(out)
    assert "Fernet.generate_key()" in hint and "chmod 600" in hint and "unset" in hint
    # Once made, it is used.
    from cryptography.fernet import Fernet

    named.parent.mkdir()
    named.write_bytes(Fernet.generate_key() + b"\n")
    named.chmod(0o600)
    env = env_for(tmp_path) | {"SYNCD_SECRET_KEY_FILE": str(named)}
    assert syncd("integrations", "list", env=env).returncode == 0


def test_non_finite_float_setting_refused(tmp_path: Path) -> None:
    env = env_for(tmp_path) | {"SYNCD_SCHEDULER_POLL_SECONDS": "inf"}
    out = syncd("schedules", "list", env=env)
    assert out.returncode == 2
    assert error_line(out) == "SYNCD_SCHEDULER_POLL_SECONDS: Input should be a finite number"


def test_bad_integration_input_refused_naming_the_field(tmp_path: Path) -> None:
    env = env_for(tmp_path)
    secret = "s3cr3t-VALUE-never-shown"
    good = ["--credential", "client_id=cid", "--credential", f"client_secret={secret}"]
    cases = [
        (["--base-url", "notaurl", *good], "--base-url: not an http(s) URL"),
        (["--base-url", "http://h:99999", *good], "--base-url: not a URL: its port must be"),
        (["--credential", "client_id=", *good[2:]], "--credential client_id: empty value"),
        (
            [*good, "--credential", f"api_key={secret}"],
            "--credential api_key: BUILDIUM takes no credential 'api_key' "
            "(its credentials: client_id, client_secret)",
        ),
        ([*good, "--credential", f"client_id={secret}"], "--credential client_id: given twice"),
        (["--credential", f"client_id={secret}"], "--credential: BUILDIUM needs client_secret"),
        ([*good, "--rate-limit", "inf"], "--rate-limit: must be between 0 and 10000"),
    ]
    for extra, message in cases:
        out = syncd("integrations", "add", "--vendor", "buildium", "--name", "x", *extra, env=env)
        assert out.returncode == 2, out.stderr
        assert error_line(out).startswith(message)
        assert secret not in out.stderr + out.stdout
    assert json.loads(syncd("integrations", "list", "--json", env=env).stdout) == []


def test_duplicate_integration_is_a_usage_error(tmp_path: Path) -> None:
    env = env_for(tmp_path)
    creds = {"client_id": "a", "client_secret": "b"}
    assert add_integration(env, "http://127.0.0.1:9", creds).returncode == 0
    for name in ("Acme Homes", "acme-homes"):
        again = add_integration(env, "http://127.0.0.1:9", creds, name=name)
        assert again.returncode == 2
        assert error_line(again) == "integration 'acme-homes' already exists"


def test_config_refuses_cron_that_never_fires_and_yaml_errors_in_one_line(
    tmp_path: Path,
) -> None:
    env = env_for(tmp_path)
    creds = {"client_id": "a", "client_secret": "b"}
    assert add_integration(env, "http://127.0.0.1:9", creds).returncode == 0

    def config(*args: str) -> subprocess.CompletedProcess[str]:
        return syncd("integrations", "config", "acme-homes", *args, env=env)

    never = config("--set", "schedules.full={type: cron, expression: '0 0 31 2 *'}")
    assert never.returncode == 2
    assert error_line(never).startswith("schedules.full: the cron expression '0 0 31 2 *' never")
    bad = config("--set", "schedules.full={type: cron, expression: [a}")
    assert bad.returncode == 2
    assert error_line(bad) == (
        "schedules.full: invalid YAML at line 1, column 28: expected ',' or ']', but got '}'"
    )
    broken = tmp_path / "acme.yaml"
    broken.write_text("page_size: 5\njobs:\n  leads: {enabled: false\n")
    out = config("--file", str(broken))
    assert out.returncode == 2
    assert error_line(out).startswith(f"{broken}: invalid YAML at line 4, column 1:")
    broken.write_text("schedules:\n  full: {type: cron, expression: '0 0 30 2 *'}\n")
    out = config("--file", str(broken))
    assert out.returncode == 2
    assert error_line(out).startswith(f"{broken}: schedules.full: the cron expression")
    broken.write_bytes(b"page_size: 5 # caf\xe9\n")
    out = config("--file", str(broken))
    assert out.returncode == 2 and "not UTF-8 text" in error_line(out)
    out = config("--file", str(tmp_path))
    assert out.returncode == 2
    assert error_line(out) == f"{tmp_path}: cannot read the settings file: it is a directory"
    shown = json.loads(config("--json").stdout)
    assert shown["schedules.full"]["source"] != "integration"  # nothing was stored


def test_run_of_a_model_the_vendor_lacks_is_a_usage_error(tmp_path: Path) -> None:
    env = env_for(tmp_path)
    assert add_integration(env, "http://127.0.0.1:9", {"client_id": "a", "client_secret": "b"})
    out = syncd("run", "--integration", "acme-homes", "--model", "floor_plans", env=env)
    assert out.returncode == 2
    assert error_line(out) == (
        "--model floor_plans: integration acme-homes (BUILDIUM) cannot sync it; its models: "
        "properties, units, residents, leases, leads, employees"
    )
    assert json.loads(syncd("jobs", "list", "--json", env=env).stdout) == []


def test_disabled_integration_runs_on_request_with_a_notice(
    tmp_path: Path, simulator: tuple[str, dict[str, str]]
) -> None:
    url, creds = simulator
    env = env_for(tmp_path)
    assert add_integration(env, url, creds).returncode == 0
    notice = (
        "note: integration acme-homes is disabled; syncing it once on request "
        "(syncd serve does not schedule it)"
    )
    run = syncd("run", "--integration", "acme-homes", "--model", "units", env=env)
    assert run.returncode == 0, run.stderr
    assert notice in run.stderr.splitlines()
    assert syncd("integrations", "enable", "acme-homes", env=env).returncode == 0
    run = syncd("run", "--integration", "acme-homes", "--model", "units", env=env)
    assert run.returncode == 0 and "note:" not in run.stderr


def test_job_log_tables_show_run_ids_that_jobs_show_accepts(
    tmp_path: Path, simulator: tuple[str, dict[str, str]]
) -> None:
    url, creds = simulator
    env = env_for(tmp_path)
    assert syncd("jobs", "list", env=env).stdout.strip() == "no runs yet"
    assert add_integration(env, url, creds).returncode == 0
    assert syncd("run", "--integration", "acme-homes", "--model", "units", env=env).returncode == 0
    rows = json.loads(syncd("jobs", "list", "--json", env=env).stdout)
    listed = syncd("jobs", "list", env=env).stdout
    assert "acme-homes" in listed and "…" not in listed
    for row in rows:
        assert row["id"][:8] in listed
    last = syncd("jobs", "last", "--integration", "acme-homes", env=env).stdout
    assert all(row["id"][:8] in last for row in rows)
    shown = syncd("jobs", "show", rows[0]["id"][:8], "--json", env=env)
    assert shown.returncode == 0, shown.stderr
    assert {r["id"] for r in json.loads(shown.stdout)} == {r["id"] for r in rows}
    unknown = syncd("jobs", "show", "0000dead", env=env)
    assert unknown.returncode == 2 and error_line(unknown) == "no run '0000dead'"
    none_failed = syncd("jobs", "list", "--status", "FAILED", env=env)
    assert none_failed.stdout.strip() == "no FAILED runs"
    of = syncd("jobs", "list", "--integration", "acme-homes", "--status", "FAILED", env=env)
    assert of.stdout.strip() == "no FAILED runs of acme-homes"


def test_sweeps_list_shows_the_whole_reason(tmp_path: Path) -> None:
    from support import with_store

    from syncd.domain import RunCounts, RunStatus, SyncMode

    env = env_for(tmp_path)
    assert add_integration(env, "http://127.0.0.1:9", {"client_id": "a", "client_secret": "b"})
    key = (tmp_path / "state" / "secret.key").read_bytes().strip()
    reason = (
        "sweep held: 29 of 30 units in scope (96.7 %) were not seen by this run, more than "
        "the 10 % the guard allows; approve it with syncd sweeps approve, or dismiss it"
    )

    async def hold(store: Any) -> str:
        integration = await store.get_integration("acme-homes")
        run_id: str = await store.start_run(
            integration=integration, model="units", mode=SyncMode.FULL, trigger="manual"
        )
        await store.finish_run(run_id, RunStatus.NEEDS_ATTENTION, RunCounts(), reason)
        return run_id

    run_id = with_store(db_url(tmp_path), key, hold)
    out = syncd("sweeps", "list", env=env)
    assert out.returncode == 0, out.stderr
    assert "…" not in out.stdout
    assert f"{run_id[:8]} acme-homes/units: {reason}" in " ".join(out.stdout.split())


# -- integrations remove ------------------------------------------------------


def db_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'state' / 'syncd.db'}"


def on_terminal(args: list[str], env: dict[str, str], typed: str) -> tuple[int, str]:
    """Run syncd with a terminal as its stdin, type ``typed``; (exit code, its output)."""
    import pty

    main_fd, child_fd = pty.openpty()
    with subprocess.Popen(
        [*SYNCD, *args],
        env=env,
        stdin=child_fd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    ) as proc:
        os.close(child_fd)
        os.write(main_fd, typed.encode() + b"\n")
        out, _ = proc.communicate(timeout=60)
    os.close(main_fd)
    return proc.returncode, out


def test_integrations_remove(tmp_path: Path, simulator: tuple[str, dict[str, str]]) -> None:
    url, creds = simulator
    env = env_for(tmp_path)
    assert add_integration(env, url, creds).returncode == 0
    assert add_integration(env, url, creds, name="Other").returncode == 0
    for name in ("acme-homes", "other"):
        assert syncd("integrations", "enable", name, env=env).returncode == 0
        assert syncd("run", "--integration", name, env=env).returncode == 0

    # Without a terminal to ask on, only --yes removes.
    refused = syncd("integrations", "remove", "acme-homes", env=env)
    assert refused.returncode == 2 and "pass --yes" in error_line(refused)
    # On a terminal, the id must be typed.
    code, out = on_terminal(["integrations", "remove", "Acme Homes"], env, "acme")
    assert code == 1 and "Type its id (acme-homes) to confirm" in out
    assert "not confirmed: integration acme-homes was not removed" in out
    assert len(json.loads(syncd("integrations", "list", "--json", env=env).stdout)) == 2
    code, out = on_terminal(["integrations", "remove", "acme-homes"], env, "acme-homes")
    assert code == 0, out
    assert "removed integration acme-homes:" in out

    assert [
        i["id"] for i in json.loads(syncd("integrations", "list", "--json", env=env).stdout)
    ] == ["other"]
    assert {
        r["integration_id"] for r in json.loads(syncd("jobs", "list", "--json", env=env).stdout)
    } == {"other"}
    assert {
        r["integration_id"]
        for r in json.loads(syncd("schedules", "list", "--json", env=env).stdout)
    } == {"other"}
    # What was announced stays in the outbox until the retention prune.
    events = json.loads(
        syncd("events", "list", "--settle", "0", "--limit", "10000", "--json", env=env).stdout
    )["events"]
    assert "acme-homes" in {e["data"].get("integration_id") for e in events}
    gone = syncd("integrations", "remove", "acme-homes", "--yes", env=env)
    assert gone.returncode == 2 and "no integration" in error_line(gone)

    # A run in progress blocks the removal.
    from support import with_store

    from syncd.domain import SyncMode

    key = (tmp_path / "state" / "secret.key").read_bytes().strip()

    async def start(store: Any) -> str:
        other = await store.get_integration("other")
        run_id: str = await store.start_run(
            integration=other, model="units", mode=SyncMode.FULL, trigger="manual"
        )
        return run_id

    run_id = with_store(db_url(tmp_path), key, start)
    busy = syncd("integrations", "remove", "other", "--yes", env=env)
    assert busy.returncode == 1
    assert run_id in error_line(busy) and "nothing was removed" in error_line(busy)
    assert len(json.loads(syncd("integrations", "list", "--json", env=env).stdout)) == 1
