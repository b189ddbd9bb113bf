"""The service layer on both engines: what the CLI and the HTTP API both rely on.

The CLI's acceptance tests cover the happy paths through a subprocess;
these pin the rules a front end cannot see from the outside: which field
an error names, what is (not) stored on a refusal, how run trees are put
together.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from support import sim_integration

from syncd.domain import RunCounts, RunStatus, ScheduleState, SyncMode
from syncd.errors import ConfigError, SweepError
from syncd.services.events import list_events, prune_events
from syncd.services.integrations import (
    configure_integration,
    list_integrations,
    set_integration_enabled,
)
from syncd.services.runs import job_log, last_run_tree, run_tree
from syncd.services.schedules import list_schedules, set_schedules_state
from syncd.services.sweeps import approval_scope, approve_sweep, dismiss_sweep, held_sweeps
from syncd.services.webhooks import (
    NewSubscription,
    add_subscription,
    delivery_log,
    list_subscriptions,
    replay_deliveries,
    rotate_secret,
)
from syncd.settings import Settings
from syncd.store.sql import SqlStore
from syncd.store.webhooks import SqlWebhookStore


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(database_url=database_url, state_dir=tmp_path / "state")


async def _sync_tree(
    store: SqlStore, models: list[str], status: RunStatus
) -> tuple[str, list[str]]:
    """A recorded whole sync of "acme": (root id, model run ids in the order they ran)."""
    integration = await store.get_integration("acme")
    root = await store.start_run(
        integration=integration, model=None, mode=SyncMode.FULL, trigger="manual"
    )
    children = []
    for model in models:
        run_id = await store.start_run(
            integration=integration,
            model=model,
            mode=SyncMode.FULL,
            trigger="manual",
            parent_run_id=root,
            root_run_id=root,
        )
        await store.finish_run(run_id, status, RunCounts(), f"{model}: held")
        children.append(run_id)
    await store.finish_run(root, status, None)
    return root, children


async def test_job_log_and_run_trees(store: SqlStore) -> None:
    await store.add_integration(sim_integration())
    await store.add_integration(replace(sim_integration(), id="other", name="Other"))
    assert (await last_run_tree(store, "Acme")).runs == ()
    root, children = await _sync_tree(store, ["properties", "units"], RunStatus.SUCCESS)

    # Any run of the tree, by a prefix of its id, names the whole sync: root first.
    tree = await run_tree(store, children[1][:8])
    assert tree.root_run_id == root and tree.integration_id == "acme"
    assert [r.id for r in tree.runs] == [root, *children]
    assert [r.id for r in (await last_run_tree(store, "Acme")).runs] == [root, *children]

    # An empty page tells "none with this status" from "none yet".
    failed = await job_log(store, integration="acme", status=RunStatus.FAILED)
    assert failed.runs == () and failed.has_runs
    never = await job_log(store, integration="Other", status=RunStatus.FAILED)
    assert never.runs == () and not never.has_runs and never.integration_id == "other"
    assert len((await job_log(store)).runs) == 3

    listed = {s.integration.id: s.last_run for s in await list_integrations(store)}
    assert listed["other"] is None
    assert listed["acme"] is not None and listed["acme"].id == root


async def test_held_sweeps_are_model_runs_and_are_dismissed_once(
    store: SqlStore, settings: Settings
) -> None:
    integration = replace(sim_integration(), options={"properties": {"17": {"enabled": False}}})
    await store.add_integration(integration)
    root, (held,) = await _sync_tree(store, ["units"], RunStatus.NEEDS_ATTENTION)

    assert [r.id for r in await held_sweeps(store)] == [held]
    assert [r.id for r in await held_sweeps(store, "Acme")] == [held]
    with pytest.raises(SweepError, match="is a whole sync"):
        await approve_sweep(store, settings, root)
    run = await store.get_run(held)
    assert run is not None
    scope = await approval_scope(store, settings, run)
    assert scope.excluded_properties == frozenset({"17"})

    dismissed = await dismiss_sweep(store, held[:8])
    assert dismissed.id == held and dismissed.model == "units"
    assert await held_sweeps(store) == []
    with pytest.raises(SweepError):
        await dismiss_sweep(store, held)


async def test_configuration_is_validated_before_it_is_stored(
    store: SqlStore, settings: Settings
) -> None:
    await store.add_integration(replace(sim_integration(), enabled=False))
    before = (await store.get_integration("acme")).options

    # The second change is refused: neither is stored.
    with pytest.raises(ConfigError) as err:
        await configure_integration(
            store, settings, "acme", changes=[("jobs.leads.enabled", "false"), ("page_size", "0")]
        )
    assert err.value.field == "page_size"
    assert (await store.get_integration("acme")).options == before
    shown = await configure_integration(store, settings, "Acme")
    assert not shown.changed and shown.integration_id == "acme"

    # Enabling schedules it at once; a changed schedule follows at once too.
    assert await list_schedules(store) == []
    enabled = await set_integration_enabled(store, settings, "Acme", True)
    assert enabled.enabled and {s.job for s in await list_schedules(store, "acme")} == {
        "incremental",
        "full",
    }
    changed = await configure_integration(
        store,
        settings,
        "acme",
        changes=[("schedules.incremental", "{type: interval, seconds: 600}")],
    )
    assert changed.changed
    settings_by_key = {r.key: r for r in changed.settings}
    assert settings_by_key["schedules.incremental"].source == "integration"
    triggers = {s.job: s.trigger for s in await list_schedules(store)}
    assert triggers["incremental"]["seconds"] == 600

    paused = await set_schedules_state(store, "Acme", ScheduleState.PAUSED, job="full")
    assert (paused.integration_id, paused.changed) == ("acme", 1)
    states = {s.job: s.state for s in await list_schedules(store)}
    assert states == {"incremental": ScheduleState.ACTIVE, "full": ScheduleState.PAUSED}


async def test_webhook_and_event_requests_name_their_fields(
    store: SqlStore, settings: Settings
) -> None:
    hooks = SqlWebhookStore(store.engine, store.cipher)
    good = NewSubscription(url="http://127.0.0.1:9/h", triggers=["data_new"])
    for bad, field in [
        (replace(good, url="ftp://x/y"), "url"),
        (replace(good, triggers=["DATA_NEWS"]), "triggers"),
        (replace(good, triggers=[" "]), "triggers"),
        (replace(good, models=["houses"]), "models"),
        (replace(good, headers={"Host": "x"}), "headers"),
        (replace(good, secret="whsec_abc"), "secret"),
    ]:
        with pytest.raises(ConfigError) as err:
            await add_subscription(hooks, bad)
        assert err.value.field == field, bad
    assert await list_subscriptions(hooks) == []

    added = await add_subscription(
        hooks, replace(good, triggers=[" data_new", "DATA_UPDATE"], models=["units", " "])
    )
    sub = added.subscription
    assert sub.triggers == ("DATA_NEW", "DATA_UPDATE") and sub.models == ("units",)
    assert added.generated_secret is not None and added.generated_secret.startswith("whsec_")
    given = await add_subscription(hooks, replace(good, secret=added.generated_secret))
    assert given.generated_secret is None
    (status, _) = await list_subscriptions(hooks)
    assert (status.pending, status.not_yet_queued, status.dead) == (0, 0, 0)

    with pytest.raises(ConfigError) as err:
        await rotate_secret(hooks, sub.id, "not-a-secret")
    assert err.value.field == "secret" and "not-a-secret" not in str(err.value)
    assert (await rotate_secret(hooks, sub.id) or "").startswith("whsec_")
    with pytest.raises(ConfigError, match="say what to replay"):
        await replay_deliveries(hooks)
    assert await replay_deliveries(hooks, dead_only=True, subscription_id=sub.id) == 0
    with pytest.raises(ConfigError) as err:
        await delivery_log(hooks, 12345)
    assert err.value.field == "event_id" and "evt_12345" in str(err.value)

    for kwargs, field in [
        ({"limit": 0}, "limit"),
        ({"since": "evt_1"}, "since"),
        ({"model": "houses"}, "model"),
    ]:
        with pytest.raises(ConfigError) as err:
            await list_events(hooks, **kwargs)
        assert err.value.field == field
    page = await list_events(hooks, since=" 7 ", settle_seconds=0)
    assert (page.events, page.next_cursor, page.has_more) == ((), "7", False)
    with pytest.raises(ConfigError) as err:
        await prune_events(hooks, settings, older_than_days=-1)
    assert err.value.field == "older_than_days"
