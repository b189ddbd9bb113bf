"""``syncd integrations check`` and ``syncd normalization …`` as real subprocesses, both engines."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from test_cli import add_integration, env_for, syncd


def test_data_access_check_and_normalization_commands(
    tmp_path: Path, database_url: str, sim_process: Callable[..., tuple[str, dict[str, str]]]
) -> None:
    url, creds = sim_process(scale=5, seed=2)
    env = env_for(tmp_path, database_url)
    assert add_integration(env, url, creds).returncode == 0
    wrong = {"client_id": creds["client_id"], "client_secret": "not-the-secret"}
    assert add_integration(env, url, wrong, "Wrong Keys").returncode == 0

    ok = syncd("integrations", "check", "acme-homes", "--json", env=env)
    assert ok.returncode == 0, ok.stderr
    report = json.loads(ok.stdout)
    assert {m["read"]["status"] for m in report["models"].values()} == {"SUCCESS"}
    assert report["models"]["leads"]["create"]["status"] == "UNTESTED"
    assert report["models"]["units"]["update"]["status"] == "UNSUPPORTED"
    assert report["last_data_access_check"] and report["data_access_check_in_process"] is False

    bad = syncd("integrations", "check", "Wrong Keys", env=env)
    assert bad.returncode == 1
    assert "FAILED" in bad.stdout and "HTTP 401" in bad.stdout and "leases" in bad.stdout
    assert "not-the-secret" not in bad.stdout + bad.stderr

    changed = syncd(
        "normalization", "set", "acme-homes", "leases", "status",
        "Active=EVICTED", "On Notice=ACTIVE", env=env,
    )  # fmt: skip
    assert changed.returncode == 0, changed.stderr
    assert "custom" in changed.stdout and "EVICTED" in changed.stdout

    shown = syncd(
        "normalization", "show", "leases", "status", "--integration", "acme-homes", "--json",
        env=env,
    )  # fmt: skip
    body = json.loads(shown.stdout)
    assert body["is_custom_mapping"] is True
    assert body["mappings"]["On Notice"] == "ACTIVE" and body["sources"]["Active"] == "custom"
    assert body["mappings"]["Past"] == "INACTIVE" and body["sources"]["Past"] == "default"

    refused = syncd("normalization", "set", "acme-homes", "leases", "status", "Gone=X", env=env)
    assert refused.returncode == 2 and "mappings.Gone" in refused.stderr

    cleared = syncd("normalization", "clear", "acme-homes", "leases", "status", "--json", env=env)
    assert cleared.returncode == 0
    assert json.loads(cleared.stdout)["is_custom_mapping"] is False
