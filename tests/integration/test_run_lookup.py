"""Runs named by a unique prefix of their id (as tables show them), on both engines."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from syncd.errors import ConfigError
from syncd.services.runs import resolve_run
from syncd.store.sql import SqlStore
from syncd.store.tables import sync_runs

IDS = (
    "abc12345-0000-4000-8000-000000000001",
    "abc12399-0000-4000-8000-000000000002",
    "f00dcafe-0000-4000-8000-000000000003",
)


async def _seed(store: SqlStore) -> None:
    now = datetime.now(UTC)
    async with store.engine.begin() as conn:
        await conn.execute(
            sync_runs.insert(),
            [
                {
                    "id": run_id,
                    "root_run_id": run_id,
                    "integration_id": "acme",
                    "vendor": "BUILDIUM",
                    "mode": "full",
                    "trigger": "manual",
                    "status": "SUCCESS",
                    "started_at": now,
                }
                for run_id in IDS
            ],
        )


async def test_a_unique_prefix_names_a_run(store: SqlStore) -> None:
    await _seed(store)
    assert (await resolve_run(store, IDS[2])).id == IDS[2]
    assert (await resolve_run(store, "f00d")).id == IDS[2]
    assert (await resolve_run(store, "ABC12345")).id == IDS[0]  # hex in any case
    assert (await resolve_run(store, "abc1234")).id == IDS[0]


async def test_ambiguous_and_unknown_prefixes_are_refused(store: SqlStore) -> None:
    await _seed(store)
    with pytest.raises(ConfigError) as err:
        await resolve_run(store, "abc123")
    assert str(err.value) == (
        f"run id prefix 'abc123' is ambiguous: 2 run ids start with it ({IDS[0]}, {IDS[1]}); "
        "give more of the id"
    )
    for ref in ("0000", "abc_", "%", "a%c", "nope"):
        with pytest.raises(ConfigError, match=f"no run '{ref}'"):
            await resolve_run(store, ref)
