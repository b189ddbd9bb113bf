"""Webhook delivery on both engines, to real aiohttp receivers that verify every signature."""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import anyio
import pytest
from aiohttp import web
from sqlalchemy import select
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from syncd.crypto import Cipher
from syncd.errors import SubscriptionNotFound
from syncd.store.engine import make_engine
from syncd.store.sql import SqlStore
from syncd.store.tables import change_events, webhook_deliveries, webhook_subscriptions
from syncd.store.webhook_base import (
    DeliveryStatus,
    Subscription,
    SubscriptionState,
)
from syncd.store.webhooks import SqlWebhookStore
from syncd.webhooks.dispatcher import Dispatcher, DispatcherConfig, send_test
from syncd.webhooks.retry import RetryPolicy
from syncd.webhooks.signing import generate_secret, secret_key, signed_headers


class Receiver:
    """An aiohttp endpoint verifying Standard Webhooks signatures; answers on demand."""

    def __init__(self, secret: str, *, status: int = 204, delay: float = 0.0) -> None:
        self.secret = secret
        self.verifier = Webhook(secret)
        self.status = status
        self.delay = delay
        self.fail: Callable[[], bool] = lambda: False
        #: While set to an unset event, answers wait for it (to hold deliveries in flight).
        self.gate: anyio.Event | None = None
        self.accepted: list[tuple[str, dict[str, Any]]] = []
        self.raw: list[tuple[dict[str, str], bytes]] = []
        self.requests = 0
        self.forged = 0
        self.port = 0
        self._runner: web.AppRunner | None = None

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        headers = {k.lower(): v for k, v in request.headers.items()}
        self.requests += 1
        try:
            payload = self.verifier.verify(body, headers)
        except WebhookVerificationError:
            self.forged += 1
            return web.Response(status=401, text="bad signature")
        if self.delay:
            await anyio.sleep(self.delay)
        if self.gate is not None:
            await self.gate.wait()
        if self.status >= 300 or self.fail():
            return web.Response(status=self.status if self.status >= 300 else 503, text="busy")
        self.accepted.append((headers["webhook-id"], payload))
        self.raw.append((headers, body))
        return web.Response(status=self.status)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/hook", self.handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.2)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self.port)
        await site.start()
        if not self.port:
            server = site._server
            assert server is not None
            self.port = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def event_ids(self) -> list[int]:
        return [int(msg_id.removeprefix("evt_")) for msg_id, _ in self.accepted]


@pytest.fixture
async def wstore(store: SqlStore, cipher: Cipher) -> SqlWebhookStore:
    """A webhook store sharing the test store's engine."""
    return SqlWebhookStore(store.engine, cipher)


@pytest.fixture
async def receivers() -> AsyncIterator[list[Receiver]]:
    """Receivers a test starts; all stopped at the end."""
    started: list[Receiver] = []
    yield started
    for r in started:
        await r.stop()


async def receiver(receivers: list[Receiver], **kwargs: Any) -> Receiver:
    r = Receiver(generate_secret(), **kwargs)
    await r.start()
    receivers.append(r)
    return r


def fast(**changes: Any) -> DispatcherConfig:
    values: dict[str, Any] = {
        "poll_interval": 0.05,
        "timeout": 1.0,
        "lease": 3.0,
        "max_concurrency": 16,
        "max_per_subscription": 8,
        "retry": RetryPolicy(
            base=timedelta(seconds=0.02),
            max_delay=timedelta(seconds=0.2),
            window=timedelta(seconds=60),
        ),
        "flush_interval": 0.005,
    }
    return DispatcherConfig(**(values | changes))


async def subscribe(
    wstore: SqlWebhookStore,
    r: Receiver,
    triggers: Iterable[str] = ("DATA_NEW", "DATA_UPDATE"),
    models: tuple[str, ...] | None = None,
    headers: dict[str, str] | None = None,
) -> Subscription:
    return await wstore.add_subscription(
        Subscription(
            id=f"wh_{uuid.uuid4().hex[:10]}",
            url=r.url,
            triggers=tuple(triggers),
            models=models,
            headers=headers or {},
            secret=r.secret,
        )
    )


async def add_events(
    store: SqlStore,
    specs: Iterable[tuple[str, str | None, str | None]],
    *,
    created_at: datetime | None = None,
    payload: dict[str, Any] | None = None,
) -> list[int]:
    """Insert (event_type, model, x_id) events; returns their ids."""
    now = created_at or datetime.now(UTC)
    rows = [
        {
            "integration_id": "acme",
            "integration_vendor": "BUILDIUM",
            "model": model,
            "record_id": uuid.uuid5(uuid.NAMESPACE_URL, f"{model}/{x_id}") if x_id else None,
            "x_id": x_id,
            "event_type": event_type,
            "run_id": "run-1",
            "diff": None,
            "payload": payload,
            "created_at": now,
        }
        for event_type, model, x_id in specs
    ]
    async with store.engine.begin() as conn:
        result = await conn.execute(change_events.insert().returning(change_events.c.id), rows)
        return sorted(int(i) for i in result.scalars())


@asynccontextmanager
async def running(*dispatchers: Dispatcher) -> AsyncIterator[None]:
    async with anyio.create_task_group() as tg:
        for i, d in enumerate(dispatchers):
            tg.start_soon(d.run, name=f"dispatcher-{i}")
        yield
        tg.cancel_scope.cancel()


async def wait_for(condition: Callable[[], Any], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if not isinstance(result, bool):
            result = await result
        if result:
            return
        assert time.monotonic() < deadline, "timed out waiting"
        await anyio.sleep(0.02)


async def statuses(store: SqlStore) -> dict[str, int]:
    async with store.engine.connect() as conn:
        rows = await conn.execute(select(webhook_deliveries.c.status))
        out: dict[str, int] = {}
        for (status,) in rows:
            out[status] = out.get(status, 0) + 1
        return out


async def test_signed_delivery_verifies_and_forgeries_fail(
    store: SqlStore, wstore: SqlWebhookStore, receivers: list[Receiver]
) -> None:
    r = await receiver(receivers)
    sub = await subscribe(wstore, r, headers={"X-Tenant": "acme"})
    legacy = await add_events(store, [("DATA_NEW", "leases", "L1")])
    full = await add_events(
        store, [("DATA_UPDATE", "leases", "L1")], payload={"record_id": "x", "diff": {"a": 1}}
    )
    report = await Dispatcher(wstore, fast()).run_once()
    assert report.delivered == 2 and r.forged == 0
    assert r.event_ids() == [*legacy, *full]
    (msg_id, first), (_, second) = r.accepted
    assert msg_id == f"evt_{legacy[0]}"
    assert first["type"] == "DATA_NEW" and first["timestamp"].endswith("Z")
    data = first["data"]
    assert data["integration_id"] == "acme" and data["vendor"] == "BUILDIUM"
    assert data["model"] == "leases" and data["x_id"] == "L1" and data["job_id"] == "run-1"
    assert uuid.UUID(data["record_id"])
    assert second == {
        "type": "DATA_UPDATE",
        "timestamp": second["timestamp"],
        "data": {"record_id": "x", "diff": {"a": 1}},
    }
    headers, body = r.raw[0]
    assert headers["x-tenant"] == "acme"
    assert headers["content-type"] == "application/json"
    # What the dispatcher signed verifies; a changed body or an old timestamp does not.
    Webhook(sub.secret).verify(body, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(sub.secret).verify(body.replace(b"DATA_NEW", b"DATA_OLD"), headers)
    old = int(headers["webhook-timestamp"]) - 600
    stale = signed_headers(secret_key(sub.secret), msg_id, old, body)
    with pytest.raises(WebhookVerificationError, match="too old"):
        Webhook(sub.secret).verify(body, stale)
    # Secrets and header values are not stored in clear.
    async with store.engine.connect() as conn:
        row = (await conn.execute(select(webhook_subscriptions))).one()
    assert sub.secret not in str(tuple(row)) and "acme" not in str(tuple(row))
    assert (await wstore.get_subscription(sub.id)).headers == {"X-Tenant": "acme"}
    deliveries, attempts = await wstore.delivery_log(legacy[0])
    assert [d.status for d in deliveries] == [DeliveryStatus.DELIVERED]
    assert [(a.attempt, a.status_code) for a in attempts] == [(1, 204)]


async def test_test_message_is_signed(wstore: SqlWebhookStore, receivers: list[Receiver]) -> None:
    r = await receiver(receivers)
    sub = await subscribe(wstore, r)
    result = await send_test(sub, answer_within=2)
    assert result.ok and result.status == 204
    assert r.accepted[0][1]["type"] == "WEBHOOK_TEST"
    r.status = 500
    failed = await send_test(sub, answer_within=2)
    assert not failed.ok and failed.status == 500 and failed.body == "busy"


async def test_receiver_down_then_up_gets_every_event(
    store: SqlStore, wstore: SqlWebhookStore, receivers: list[Receiver]
) -> None:
    r = await receiver(receivers)
    await subscribe(wstore, r)
    await r.stop()
    ids = await add_events(store, [("DATA_NEW", "units", f"U{i}") for i in range(60)])
    dispatcher = Dispatcher(wstore, fast())
    async with running(dispatcher):
        await wait_for(lambda: dispatcher.report.retrying >= 60)
        await r.start()  # same port
        await wait_for(lambda: len(r.accepted) >= 60)
        await wait_for(lambda: dispatcher.in_flight == 0)
    assert sorted(set(r.event_ids())) == ids
    assert await statuses(store) == {"DELIVERED": 60}


async def test_events_of_one_record_arrive_in_order(
    store: SqlStore, wstore: SqlWebhookStore, receivers: list[Receiver]
) -> None:
    r = await receiver(receivers)
    rng = random.Random(11)
    r.fail = lambda: rng.random() < 0.3
    await subscribe(wstore, r)
    specs = [
        ("DATA_UPDATE" if n else "DATA_NEW", "leases", f"L{k}") for n in range(8) for k in range(6)
    ]
    ids = await add_events(store, specs)
    record_of = {i: spec[2] for i, spec in zip(ids, specs, strict=True)}
    dispatcher = Dispatcher(wstore, fast())
    async with running(dispatcher):
        await wait_for(lambda: len(r.accepted) >= len(ids))
    assert dispatcher.report.retrying > 0
    seen: dict[str, list[int]] = {}
    for i in r.event_ids():
        seen.setdefault(record_of[i], []).append(i)
    for record, got in seen.items():
        assert got == sorted(got), record
        assert len(got) == 8


async def test_trigger_and_model_filters(
    store: SqlStore, wstore: SqlWebhookStore, receivers: list[Receiver]
) -> None:
    leases_new = await receiver(receivers)
    updates = await receiver(receivers)
    lifecycle = await receiver(receivers)
    paused = await receiver(receivers)
    await subscribe(wstore, leases_new, ["DATA_NEW"], models=("leases",))
    await subscribe(wstore, updates, ["DATA_UPDATE", "DATA_DELETED"])
    await subscribe(wstore, lifecycle, ["SYNC_COMPLETE", "JOB_FAILURE"], models=("units",))
    p = await subscribe(wstore, paused, ["DATA_NEW"])
    await wstore.set_subscription_state(p.id, SubscriptionState.PAUSED)
    ids = await add_events(
        store,
        [
            ("DATA_NEW", "leases", "L1"),
            ("DATA_NEW", "units", "U1"),
            ("DATA_UPDATE", "leases", "L1"),
            ("DATA_DELETED", "units", "U1"),
            ("SYNC_COMPLETE", None, None),
            ("FIRST_SYNC_COMPLETE", None, None),
        ],
    )
    await Dispatcher(wstore, fast()).run_once()
    assert leases_new.event_ids() == [ids[0]]
    assert sorted(updates.event_ids()) == [ids[2], ids[3]]
    assert lifecycle.event_ids() == [ids[4]]
    assert paused.requests == 0
    counts = await wstore.delivery_counts()
    assert counts[p.id] == {DeliveryStatus.PENDING: 2}
    await wstore.set_subscription_state(p.id, SubscriptionState.ACTIVE)
    await Dispatcher(wstore, fast()).run_once()
    assert paused.event_ids() == [ids[0], ids[1]]


async def test_slow_and_dead_subscribers_do_not_delay_a_healthy_one(
    store: SqlStore, wstore: SqlWebhookStore, receivers: list[Receiver]
) -> None:
    healthy = await receiver(receivers)
    slow = await receiver(receivers, delay=5.0)
    dead = await receiver(receivers, status=500)
    for r in (slow, dead, healthy):
        await subscribe(wstore, r)
    ids = await add_events(store, [("DATA_NEW", "units", f"U{i}") for i in range(300)])
    config = fast(max_concurrency=8, max_per_subscription=2, timeout=1.0)
    dispatcher = Dispatcher(wstore, config)
    started = time.monotonic()
    async with running(dispatcher):
        await wait_for(lambda: len(healthy.accepted) >= len(ids), timeout=15)
        took = time.monotonic() - started
    assert sorted(healthy.event_ids()) == ids
    # The slow one times out on every post and holds at most 2 of the 8 slots.
    assert slow.requests <= 2 * (took / config.timeout + 1)
    assert dead.requests > 0
    assert took < 6, took


async def test_dead_letter_after_the_schedule_then_replay(
    store: SqlStore, wstore: SqlWebhookStore, receivers: list[Receiver]
) -> None:
    r = await receiver(receivers, status=500)
    await subscribe(wstore, r)
    ids = await add_events(store, [("DATA_NEW", "units", f"U{i}") for i in range(5)])
    retry = RetryPolicy(
        base=timedelta(seconds=0.02),
        max_delay=timedelta(seconds=0.1),
        window=timedelta(0.4 / 86400),
    )
    dispatcher = Dispatcher(wstore, fast(retry=retry))
    async with running(dispatcher):
        await wait_for(lambda: dispatcher.report.dead >= 5)
        await wait_for(lambda: dispatcher.in_flight == 0)
    assert await statuses(store) == {"DEAD": 5}
    deliveries, attempts = await wstore.delivery_log(ids[0])
    assert deliveries[0].status is DeliveryStatus.DEAD and deliveries[0].last_status_code == 500
    assert len(attempts) >= 2 and {a.status_code for a in attempts} == {500}
    assert attempts[0].response == "busy"
    span = attempts[-1].attempted_at - attempts[0].attempted_at
    assert span >= timedelta(seconds=0.35)
    r.status = 204
    assert await wstore.replay(datetime.now(UTC), dead_only=True) == 5
    await Dispatcher(wstore, fast()).run_once()
    assert sorted(r.event_ids()) == ids
    assert await statuses(store) == {"DELIVERED": 5}
    # A replay keeps the message id; replaying again by event works too.
    assert await wstore.replay(datetime.now(UTC), event_id=ids[0]) == 1
    await Dispatcher(wstore, fast()).run_once()
    assert r.event_ids().count(ids[0]) == 2


async def test_two_dispatchers_never_share_a_delivery(
    store: SqlStore, wstore: SqlWebhookStore, cipher: Cipher, receivers: list[Receiver]
) -> None:
    r = await receiver(receivers)
    await subscribe(wstore, r)
    other = SqlWebhookStore(make_engine(str(store.engine.url.render_as_string(False))), cipher)
    ids = await add_events(store, [("DATA_NEW", "units", f"U{i}") for i in range(400)])
    # A generous timeout: on a busy machine a receiver's late answer would
    # be a timeout and a legitimate retry, which is not what this test is about.
    config = fast(claim_batch=16, timeout=30.0, lease=65.0)
    a, b = Dispatcher(wstore, config), Dispatcher(other, config)
    # Answers wait until both dispatchers hold deliveries at once, so they
    # truly compete for the queue however the machine schedules them.
    gate = r.gate = anyio.Event()
    try:
        async with running(a, b):
            await wait_for(lambda: a.in_flight > 0 and b.in_flight > 0, timeout=60)
            gate.set()
            await wait_for(lambda: len(r.accepted) >= len(ids))
            await wait_for(lambda: a.in_flight == 0 and b.in_flight == 0)
    finally:
        await other.engine.dispose()
    assert sorted(r.event_ids()) == ids  # each exactly once
    assert a.report.delivered > 0 and b.report.delivered > 0


async def test_change_feed_pages_and_prune(store: SqlStore, wstore: SqlWebhookStore) -> None:
    old = datetime.now(UTC) - timedelta(days=40)
    r = Receiver(generate_secret())
    sub = await subscribe(wstore, r)
    ancient = await add_events(
        store, [("DATA_NEW", "units", f"U{i}") for i in range(5)], created_at=old
    )
    fresh = await add_events(store, [("DATA_NEW", "leases", f"L{i}") for i in range(5)])
    page = await wstore.list_events(after=0, limit=4)
    assert [e.id for e in page] == ancient[:4]
    rest = await wstore.list_events(after=page[-1].id, limit=100)
    assert [e.id for e in rest] == [ancient[4], *fresh]
    assert [e.id for e in await wstore.list_events(model="leases")] == fresh
    await wstore.fan_out(datetime.now(UTC), limit=100, hold=timedelta(minutes=1))
    # Two old events delivered, one dead, two still pending (kept).
    async with store.engine.begin() as conn:
        for status, chosen in (("DELIVERED", ancient[:2]), ("DEAD", ancient[2:3])):
            await conn.execute(
                webhook_deliveries.update()
                .where(webhook_deliveries.c.event_id.in_(chosen))
                .values(status=status, next_attempt_at=None)
            )
    counts = await wstore.prune_events(datetime.now(UTC) - timedelta(days=30))
    assert (counts.events, counts.deliveries) == (3, 3)
    remaining = [e.id for e in await wstore.list_events(limit=100)]
    assert remaining == [*ancient[3:], *fresh]
    assert (await wstore.delivery_counts())[sub.id] == {DeliveryStatus.PENDING: 7}


async def test_late_committing_event_is_still_fanned_out(
    pg_database_url: str, cipher: Cipher, receivers: list[Receiver]
) -> None:
    store = SqlStore(make_engine(pg_database_url), cipher)
    wstore = SqlWebhookStore(store.engine, cipher)
    try:
        r = await receiver(receivers)
        await subscribe(wstore, r, ["SYNC_COMPLETE"])
        row = {
            "integration_id": "acme",
            "integration_vendor": "BUILDIUM",
            "event_type": "SYNC_COMPLETE",
            "created_at": datetime.now(UTC),
        }
        async with store.engine.connect() as slow:
            tx = await slow.begin()
            # This id is taken first but committed last.
            early = (
                await slow.execute(change_events.insert().returning(change_events.c.id), [row])
            ).scalar_one()
            later = await add_events(store, [("SYNC_COMPLETE", None, None)])
            await Dispatcher(wstore, fast()).run_once()
            assert r.event_ids() == later
            await tx.commit()
        await Dispatcher(wstore, fast()).run_once()
        assert sorted(r.event_ids()) == sorted([early, *later])
    finally:
        await store.close()


async def test_subscription_lifecycle(wstore: SqlWebhookStore, store: SqlStore) -> None:
    r = Receiver(generate_secret())
    sub = await subscribe(wstore, r)
    await add_events(store, [("DATA_NEW", "units", "U1")])
    await wstore.fan_out(datetime.now(UTC), limit=10, hold=timedelta(minutes=1))
    new_secret = generate_secret()
    await wstore.set_subscription_secret(sub.id, new_secret)
    got = await wstore.get_subscription(sub.id)
    assert got.secret == new_secret and got.updated_at and got.updated_at >= got.created_at  # type: ignore[operator]
    assert [s.id for s in await wstore.list_subscriptions()] == [sub.id]
    await wstore.remove_subscription(sub.id)
    assert await wstore.list_subscriptions() == []
    assert await statuses(store) == {}
    with pytest.raises(SubscriptionNotFound):
        await wstore.get_subscription(sub.id)
    with pytest.raises(SubscriptionNotFound):
        await wstore.set_subscription_state(sub.id, SubscriptionState.PAUSED)
