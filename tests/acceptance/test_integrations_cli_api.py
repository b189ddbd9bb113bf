"""Integrations through the real CLI and the real daemon: properties, cloning,
archiving, and enabling over HTTP starting a sync at once."""

from __future__ import annotations

import json
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from support import free_port
from test_cli import SYNCD, add_integration, env_for, error_line, syncd


@pytest.fixture
def env(
    tmp_path: Path, sim_process: Callable[..., tuple[str, dict[str, str]]]
) -> tuple[dict[str, str], str, dict[str, str]]:
    """(environment on SQLite, simulator URL, its credentials).

    SQLite only: every command is a process start. The services below are
    tested on both engines through the API, and so is the scheduler.
    """
    url, creds = sim_process(scale=10, seed=4)
    return env_for(tmp_path), url, creds


def _json(out: subprocess.CompletedProcess[str]) -> Any:
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_properties_clone_and_archive_from_the_cli(
    env: tuple[dict[str, str], str, dict[str, str]],
) -> None:
    environ, url, creds = env
    assert add_integration(environ, url, creds, "Acme").returncode == 0
    ran = syncd("run", "--integration", "acme", "--model", "properties", env=environ)
    assert ran.returncode == 0, ran.stderr

    props = _json(syncd("integrations", "properties", "acme", "--json", env=environ))
    assert props and all(p["enabled"] for p in props)
    x_id = props[0]["x_property_id"]
    off = syncd("integrations", "property", "acme", x_id, "--disable", env=environ)
    assert off.returncode == 0 and f"acme: property {x_id} disabled" in off.stdout

    configured = syncd(
        "integrations", "config", "acme", "--set", "schedules.incremental={type: interval, "
        "seconds: 600}", "--set", "jobs.leads.enabled=false", env=environ,
    )  # fmt: skip
    assert configured.returncode == 0, configured.stderr
    no_secret = syncd(
        "integrations", "clone", "acme", "--name", "Copy", "--credential", "client_id=x",
        env=environ,
    )  # fmt: skip
    assert no_secret.returncode == 2
    assert error_line(no_secret).startswith("--credential client_secret: BUILDIUM needs")
    cloned = syncd(
        "integrations", "clone", "acme", "--name", "Copy", "--base-url", url,
        "--credential", "client_id=other", "--credential", "client_secret=account",
        env=environ,
    )  # fmt: skip
    assert cloned.returncode == 0, cloned.stderr
    assert "added integration copy (BUILDIUM, production, disabled)" in cloned.stdout
    shown = syncd("integrations", "show", "copy", "--json", env=environ)
    copy = _json(shown)
    assert copy["options"]["schedules"]["incremental"]["seconds"] == 600
    assert copy["options"]["jobs"] == {"leads": {"enabled": False}}
    assert "properties" not in copy["options"] and "account" not in shown.stdout

    archived = syncd("integrations", "archive", "copy", env=environ)
    assert archived.returncode == 0 and "copy: archived (disabled)" in archived.stdout
    refused = syncd("integrations", "enable", "copy", env=environ)
    assert refused.returncode == 2 and "unarchive it first" in error_line(refused)
    assert syncd("integrations", "unarchive", "copy", env=environ).returncode == 0


def _http(method: str, url: str, key: str, body: dict[str, Any] | None = None) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("Authorization", f"Bearer {key}")
    request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def _wait(check: Callable[[], bool], seconds: float, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert proc.poll() is None, "syncd serve exited"
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def test_enabling_over_http_makes_the_daemon_sync_at_once(
    tmp_path: Path, env: tuple[dict[str, str], str, dict[str, str]]
) -> None:
    environ, sim_url, creds = env
    port = free_port()
    environ |= {
        "SYNCD_HTTP_PORT": str(port),
        "SYNCD_SCHEDULER_POLL_SECONDS": "0.2",
        "SYNCD_EGRESS_ALLOWED_HOSTS": "127.0.0.1",
    }
    made = syncd("keys", "create", "--name", "ops", "--scope", "admin", env=environ)
    assert made.returncode == 0, made.stderr
    key = made.stdout.strip()
    log = (tmp_path / "serve.log").open("wb")
    proc = subprocess.Popen([*SYNCD, "serve"], env=environ, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}/v1/admin/integrations"
    try:

        def up() -> bool:
            try:
                return _http("GET", base + "/", key)[0] == 200
            except OSError:
                return False

        _wait(up, 60, proc)
        body = {
            "integration_vendor": "BUILDIUM",
            "name": "Acme",
            "id": "acme",
            "base_url": sim_url,
            "credentials": creds,
        }
        status, created = _http("POST", base, key, body)
        assert status == 201, created
        assert created["result"]["active"] is False
        assert creds["client_secret"] not in json.dumps(created)
        status, changed = _http("PUT", base + "/acme", key, {"active": True})
        assert status == 200 and changed["result"]["active"] is True

        seen: dict[str, Any] = {}

        def synced() -> bool:
            seen.update(_http("GET", base + "/acme", key)[1]["results"])
            last = seen["last_run"]
            return last is not None and last["status"] == "SUCCESS"

        # The incremental job fires every 15 minutes: only "due now" explains a sync here.
        _wait(synced, 60, proc)
        jobs = seen["last_ran_jobs"]
        assert {j["model"] for j in jobs} >= {"properties", "units"}
        assert all(j["status"] == "SUCCESS" for j in jobs)
        schedules = syncd("schedules", "list", "--json", env=environ)
        rows = {r["job"]: r for r in json.loads(schedules.stdout)}
        # Only one sync starts at once; the full job waits for its fire time.
        assert rows["full"]["last_run_at"] is None, rows
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
    assert creds["client_secret"] not in (tmp_path / "serve.log").read_text()
