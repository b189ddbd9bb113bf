"""``syncd integrations sync`` and ``syncd schedules show/set`` as a user runs them."""

from __future__ import annotations

import json
from pathlib import Path

from test_cli import env_for, syncd


def test_sync_requests_and_schedule_changes(tmp_path: Path) -> None:
    env = env_for(tmp_path)
    # Nothing syncs here (no daemon runs): the PMS is never called.
    added = syncd(
        "integrations", "add", "--vendor", "buildium", "--name", "Acme",
        "--base-url", "http://127.0.0.1:9", "--enable",
        "--credential", "client_id=c", "--credential", "client_secret=s",
        env=env,
    )  # fmt: skip
    assert added.returncode == 0, added.stderr

    out = syncd("integrations", "sync", "acme", "--model", "units", "--json", env=env)
    assert out.returncode == 0, out.stderr
    queued = json.loads(out.stdout)
    assert queued["trigger"] == "manual" and queued["models"] == ["units"]
    again = syncd("integrations", "sync", "acme", "--back-sync", env=env)
    assert again.returncode == 1 and "already pending" in again.stderr
    bad = syncd("integrations", "sync", "acme", "--model", "houses", env=env)
    assert bad.returncode == 2 and "--model" in bad.stderr

    out = syncd(
        "schedules", "set", "acme", "incremental", "--every", "2", "--cadence", "hour",
        "--pause", "--json", env=env,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    changed = json.loads(out.stdout)
    assert changed["trigger"]["seconds"] == 7200 and changed["sync_cadence"] == "HOUR"
    assert changed["inactive_reason"] == "paused"
    refused = syncd(
        "schedules", "set", "acme", "full", "--trigger", "{type: interval, seconds: 0}", env=env
    )
    assert refused.returncode == 2 and "--trigger" in refused.stderr

    shown = syncd("schedules", "show", "acme", "--json", env=env)
    assert shown.returncode == 0, shown.stderr
    view = json.loads(shown.stdout)
    assert view["pending_request"]["trigger"] == "manual"
    assert [(s["job"], s["status"]) for s in view["job_schedules"]] == [
        ("incremental", "INACTIVE"),
        ("full", "ACTIVE"),
    ]
