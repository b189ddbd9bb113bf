"""The job log over real HTTP, on both engines: filters, paging, one sync's tree."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import update
from support import sim_integration, started_sim

from syncd.domain import Integration, RunCounts, RunStatus, SyncMode
from syncd.runner import Runner
from syncd.store.sql import SqlStore
from syncd.store.tables import sync_runs

from .conftest import Api
from .test_read_api import integration

LOGS = "/v1/admin/logs/jobs/"


async def sync_tree(
    store: SqlStore,
    integ: Integration,
    models: dict[str, RunStatus],
    *,
    status: RunStatus = RunStatus.SUCCESS,
    started_at: datetime | None = None,
) -> tuple[str, list[str]]:
    """A recorded whole sync: (root id, model run ids in the order they ran)."""
    root = await store.start_run(
        integration=integ, model=None, mode=SyncMode.INCREMENTAL, trigger="manual"
    )
    children = []
    for i, (model, child_status) in enumerate(models.items()):
        run_id = await store.start_run(
            integration=integ,
            model=model,
            mode=SyncMode.INCREMENTAL,
            trigger="manual",
            parent_run_id=root,
            root_run_id=root,
        )
        error = None if child_status is RunStatus.SUCCESS else f"{model}: broke"
        counts = RunCounts(fetched=10 + i, created=i, updated=1, requests=2, retries=i)
        await store.finish_run(run_id, child_status, counts, error)
        children.append(run_id)
    await store.finish_run(root, status, None)
    if started_at is not None:
        async with store.engine.begin() as conn:
            for offset, run_id in enumerate([root, *children]):
                await conn.execute(
                    update(sync_runs)
                    .where(sync_runs.c.id == run_id)
                    .values(started_at=started_at + timedelta(seconds=offset))
                )
    return root, children


def ids(page: dict[str, object]) -> list[str]:
    results = page["results"]
    assert isinstance(results, list)
    return [r["id"] for r in results]


async def test_job_log_filters_and_pages(api: Api) -> None:
    acme, other = integration("acme"), integration("other")
    for i in (acme, other):
        await api.store.add_integration(i)
    now = datetime.now(UTC)
    old_root, old_children = await sync_tree(
        api.store,
        acme,
        {"units": RunStatus.SUCCESS, "leases": RunStatus.FAILED},
        status=RunStatus.PARTIAL,
        started_at=now - timedelta(days=3),
    )
    new_root, new_children = await sync_tree(
        api.store, acme, {"units": RunStatus.SUCCESS}, started_at=now - timedelta(minutes=5)
    )
    other_root, _ = await sync_tree(
        api.store, other, {"residents": RunStatus.SUCCESS}, started_at=now - timedelta(hours=5)
    )

    everything = await api.get(LOGS)
    assert everything["meta"]["total"] == 7 and everything["meta"]["hasMore"] is False
    assert everything["meta"]["orderBy"] == [{"field": "created_at", "direction": "desc"}]
    started = [r["started_at"] for r in everything["results"]]
    assert started == sorted(started, reverse=True)
    record = next(r for r in everything["results"] if r["id"] == old_children[1])
    assert record == record | {
        "job_id": old_children[1],
        "job_type": "leases",
        "model": "leases",
        "status": "FAILED",
        "parent_job_id": old_root,
        "root_job_id": old_root,
        "job_schedule_id": None,
        "integration_id": "acme",
        "associated_property_id": None,
        "integration_vendor": "BUILDIUM",
        "mode": "incremental",
        "trigger": "manual",
        "error": "leases: broke",
    }
    assert record["counts"] == {
        "fetched": 11,
        "created": 1,
        "updated": 1,
        "unchanged": 0,
        "deleted": 0,
        "quarantined": 0,
        "processed": 11,
        "requests": 2,
        "retries": 1,
    }
    assert record["created_at"] == record["started_at"] and record["ended_at"]
    root = next(r for r in everything["results"] if r["id"] == old_root)
    assert root["job_type"] == "sync" and root["model"] is None
    assert root["parent_job_id"] is None and root["root_job_id"] == old_root
    assert root["counts"]["fetched"] == 21  # summed over its model runs

    # The reference's FAILURE is syncd's FAILED; several statuses combine.
    for status in ("FAILED", "FAILURE"):
        assert ids(await api.get(LOGS, status=status)) == [old_children[1]]
    partial_or_failed = await api.get(LOGS, status="PARTIAL,FAILED")
    assert set(ids(partial_or_failed)) == {old_root, old_children[1]}
    assert ids(await api.get("/v1/admin/logs/jobs", integration_id="other", job_type="sync")) == [
        other_root
    ]
    assert set(ids(await api.get(LOGS, job_type="units"))) == {old_children[0], new_children[0]}
    assert ids(await api.get(LOGS, integration_id="nobody")) == []

    # Time ranges: after (inclusive) / before (exclusive), and the reference's time_range.
    day = await api.get(LOGS, time_range="day", job_type="sync")
    assert ids(day) == [new_root, other_root]
    assert ids(await api.get(LOGS, time_range="hour", job_type="sync")) == [new_root]
    assert len(ids(await api.get(LOGS, time_range="week"))) == 7
    window = {
        "after": (now - timedelta(hours=6)).isoformat(),
        "before": (now - timedelta(hours=1)).isoformat(),
    }
    assert ids(await api.get(LOGS, **window, job_type="sync")) == [other_root]
    naive = (now - timedelta(days=3)).replace(tzinfo=None).isoformat()
    assert ids(await api.get(LOGS, before=naive + "Z")) == []
    assert len(ids(await api.get(LOGS, after=naive))) == 7

    # Paging and ordering.
    first = await api.get(LOGS, limit=3, **{"order-by": "created_at:asc"})
    second = await api.get(LOGS, limit=3, offset=3, **{"order-by": "created_at:asc"})
    third = await api.get(LOGS, limit=3, offset=6, **{"order-by": "created_at:asc"})
    assert first["meta"]["hasMore"] is True and third["meta"]["hasMore"] is False
    assert ids(first)[0] == old_root
    assert ids(first) + ids(second) + ids(third) == list(reversed(ids(everything)))
    by_status = await api.get(LOGS, **{"order-by": "status,ended_at:desc"})
    assert [r["status"] for r in by_status["results"]] == sorted(
        r["status"] for r in everything["results"]
    )


async def test_job_log_rejects_bad_parameters_and_read_keys(api: Api) -> None:
    for params, field in [
        ({"status": "DONE"}, "status.0"),
        ({"job_type": "houses"}, "job_type"),
        ({"time_range": "year"}, "time_range"),
        ({"after": "yesterday"}, "after"),
        ({"before": "0.5"}, "before"),
        ({"after": "0001-01-01T00:00:00+05:00"}, "after"),
        ({"integration_id": "a\x00b"}, "integration_id"),
        ({"order-by": "vendor"}, "order-by"),
        ({"limit": "251"}, "limit"),
        ({"colour": "red"}, "colour"),
        (
            {"after": "2024-02-01T00:00:00Z", "before": "2024-01-01T00:00:00Z"},
            "before",
        ),
    ]:
        status, body, _ = await api.call("GET", LOGS, params=params)
        assert status == 400, (params, body)
        assert [i["field"] for i in body["error"]["details"]["issues"]] == [field], body
        assert body["error"]["details"]["issues"][0]["location"] == "query"
    for path in (LOGS, LOGS + "some-run"):
        status, body, _ = await api.call("GET", path, key=api.read_key)
        assert status == 403, body
        status, _, _ = await api.call("GET", path, anonymous=True)
        assert status == 401


async def test_job_tree_shows_the_whole_sync(api: Api) -> None:
    acme = integration()
    await api.store.add_integration(acme)
    root, children = await sync_tree(
        api.store, acme, {"properties": RunStatus.SUCCESS, "units": RunStatus.FAILED}
    )
    await sync_tree(api.store, acme, {"units": RunStatus.SUCCESS})  # another sync

    for asked in (root, children[1]):
        tree = await api.get(f"{LOGS}{asked}")
        assert tree["root_job_id"] == root and tree["meta"]["total"] == 3
        assert ids(tree) == [root, *children]
        assert [r["job_type"] for r in tree["results"]] == ["sync", "properties", "units"]
        assert tree["results"][2]["error"] == "units: broke"
        assert tree["results"][0]["counts"]["fetched"] == 10 + 11
    alone = await api.get(f"{LOGS}{children[0]}/", include_all_jobs="false")
    assert ids(alone) == [children[0]] and alone["root_job_id"] == root
    paged = await api.get(f"{LOGS}{root}", limit=2, offset=1)
    assert ids(paged) == children and paged["meta"]["hasMore"] is False

    for unknown in ("0" * 8 + "-0000-0000-0000-" + "0" * 12, "not a run", "x%00y"):
        status, body, _ = await api.call("GET", LOGS + unknown)
        assert status == 404, body
        assert body["error"]["code"] == "not_found"


async def test_job_log_of_a_real_sync(api: Api) -> None:
    async with started_sim(seed=3, scale=5) as sim:
        integ = sim_integration(sim)
        await api.store.add_integration(integ)
        report = await Runner(api.store).run(integ, models=["properties", "units"])
    assert report.status is RunStatus.SUCCESS, report.error
    tree = await api.get(f"{LOGS}{report.root_run_id}")
    root, *models = tree["results"]
    assert root["id"] == report.root_run_id and root["status"] == "SUCCESS"
    assert [m["job_type"] for m in models] == [o.model for o in report.outcomes]
    for m, outcome in zip(models, report.outcomes, strict=True):
        assert m["counts"]["fetched"] == outcome.counts.fetched > 0
        assert m["counts"]["created"] == outcome.counts.created
        assert m["counts"]["requests"] >= 1 and m["parent_job_id"] == root["id"]
    assert root["counts"]["fetched"] == sum(m["counts"]["fetched"] for m in models)
    listed = await api.get(LOGS, integration_id="acme", status="SUCCESS", job_type="sync")
    assert ids(listed) == [report.root_run_id]
