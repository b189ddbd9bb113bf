"""``syncd writes ...`` as a user runs it, against a Buildium simulator subprocess."""

from __future__ import annotations

import json
from pathlib import Path

from test_cli import add_integration, env_for, simulator, syncd

__all__ = ["simulator"]  # the fixture, used by name


def test_create_work_status_list_and_retry(
    tmp_path: Path, simulator: tuple[str, dict[str, str]]
) -> None:
    url, creds = simulator
    env = env_for(tmp_path)
    added = add_integration(env, url, creds)
    assert added.returncode == 0, added.stderr
    enabled = syncd("integrations", "enable", "acme-homes", env=env)
    assert enabled.returncode == 0, enabled.stderr

    made = syncd(
        "writes", "create", "leads", "--integration", "acme-homes", "--vendor", "buildium",
        "--field", "first_name=Ann", "--field", "last_name=Lee",
        "--field", "email_1=ann.lee@example.test", "--field", "phone_1=617-555-0101",
        "--json", env=env,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    answer = json.loads(made.stdout)
    job = answer["meta"]["job_id"]
    assert answer["result"]["first_name"] == "Ann" and answer["result"]["unit_id"] is None

    pending = syncd("writes", "status", job, "--json", env=env)
    assert pending.returncode == 0 and json.loads(pending.stdout)["write_status"] == "PENDING"

    worked = syncd("writes", "work", "--once", env=env)
    assert worked.returncode == 0, worked.stderr
    assert f"{job}: SUCCESS" in worked.stdout

    done = syncd("writes", "status", job, "--json", env=env)
    state = json.loads(done.stdout)
    assert state["write_status"] == "SUCCESS" and state["created_record_id"]
    shown = syncd("writes", "status", job, env=env)
    assert f"created record: {state['created_record_id']}" in shown.stdout

    listed = syncd("writes", "list", "--json", env=env)
    assert [j["job_id"] for j in json.loads(listed.stdout)] == [job]
    table = syncd("writes", "list", env=env)
    assert job in table.stdout and "SUCCESS" in table.stdout

    # Bad fields are named, and nothing is queued.
    bad = syncd(
        "writes", "create", "leads", "--integration", "acme-homes",
        "--field", "first_name=Ann", "--field", "favourite_colour=teal", env=env,
    )  # fmt: skip
    assert bad.returncode == 2
    assert "last_name" in bad.stderr and "favourite_colour" in bad.stderr
    stripped = syncd(
        "writes", "create", "leads", "--integration", "acme-homes", "--ignore-unknown-fields",
        "--field", "first_name=Bo", "--field", "last_name=Lee", "--field", "desired_num_bedrooms=2",
        env=env,
    )  # fmt: skip
    assert stripped.returncode == 0, stripped.stderr
    assert "left out (not accepted by the PMS): desired_num_bedrooms" in stripped.stderr

    # Only failed writes are retried; an unknown job is the operator's mistake.
    again = syncd("writes", "retry", job, env=env)
    assert again.returncode == 1 and "only failed writes" in again.stderr
    unknown = syncd("writes", "status", "no-such-job", env=env)
    assert unknown.returncode == 2 and "not found" in unknown.stderr
