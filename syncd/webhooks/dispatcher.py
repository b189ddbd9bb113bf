"""The dispatcher: fans outbox events out to subscriptions and posts them, signed.

One loop fans out new events and claims due deliveries in batches (leased,
so a dispatcher that dies only delays them); each claimed delivery is posted
by a task of its own over one shared HTTP connection pool, with a timeout.
A 2xx answer is a delivery; anything else is retried with backoff until the
retry window ends, then dead-lettered. Outcomes are written back in batches.
Posts are bounded in total and per subscription, so a slow or dead receiver
never holds up the others; a record's events go out one at a time, in order
(the store only hands out the earliest pending one).
"""

from __future__ import annotations

import math
import secrets
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import aiohttp
import anyio
import anyio.abc
import orjson
import structlog

from syncd import __version__
from syncd.egress import host_allowed
from syncd.errors import StoreError
from syncd.events import TEST_EVENT_TYPE, envelope, event_body, message_id
from syncd.metrics import Metrics
from syncd.store.webhook_base import (
    ClaimedDelivery,
    DeliveryOutcome,
    DeliveryStatus,
    Subscription,
    WebhookStore,
)
from syncd.webhooks.retry import RetryPolicy
from syncd.webhooks.signing import secret_key, signed_headers

log = structlog.get_logger(__name__)

#: How much of a refusing receiver's answer the attempt log keeps.
RESPONSE_EXCERPT = 500
_USER_AGENT = f"syncd/{__version__} (+https://www.standardwebhooks.com)"
#: Deliveries of a subscription claimed per posting slot: posts finish while
#: their outcomes wait to be recorded in a batch, and the next ones are ready.
_CLAIM_AHEAD = 4
#: A failing subscription is logged at most once per this many seconds.
FAILURE_LOG_EVERY = 30.0


@dataclass(frozen=True, slots=True)
class DispatcherConfig:
    """How a dispatcher polls, posts, retries and prunes."""

    #: Idle poll period: bounds the delay from an event's commit to its delivery.
    poll_interval: float = 0.5
    #: Seconds a receiver has to answer one delivery.
    timeout: float = 10.0
    #: Deliveries posted at once (and connections in the pool).
    max_concurrency: int = 128
    #: Deliveries posted at once to one subscription: what a slow receiver can
    #: hold of ``max_concurrency``. More are claimed ahead, to keep it busy.
    max_per_subscription: int = 32
    #: How long a claim holds a delivery; must exceed ``timeout``.
    lease: float = 60.0
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    #: Events older than this are pruned (None: never).
    retention: timedelta | None = timedelta(days=30)
    prune_every: float = 3600.0
    fanout_batch: int = 1000
    claim_batch: int = 256
    #: Outcomes wait this long for company before being written in one batch.
    flush_interval: float = 0.02
    #: How long an id skipped by fan-out (its transaction still open) is awaited.
    gap_hold: timedelta = timedelta(minutes=10)
    #: Receiver hosts deliveries may go to (empty: any); see :mod:`syncd.egress`.
    allowed_hosts: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.lease <= self.timeout:
            raise ValueError("the delivery lease must be longer than the timeout")
        if min(self.max_concurrency, self.max_per_subscription, self.claim_batch) < 1:
            raise ValueError("concurrency limits and batch sizes must be positive")


@dataclass(frozen=True, slots=True)
class DispatchReport:
    """What a dispatcher did: attempts by outcome."""

    delivered: int = 0
    retrying: int = 0
    dead: int = 0


@dataclass(frozen=True, slots=True)
class TestResult:
    """The receiver's answer to a test message."""

    message_id: str
    status: int | None
    body: str
    latency_ms: float
    error: str | None

    @property
    def ok(self) -> bool:
        """True for a 2xx answer."""
        return self.status is not None and 200 <= self.status < 300


@dataclass(frozen=True, slots=True)
class _Job:
    delivery: ClaimedDelivery
    subscription: Subscription
    key: bytes
    body: bytes
    #: When the claim was made (anyio clock): the lease runs from here.
    claimed_at: float


@dataclass(frozen=True, slots=True)
class _Answer:
    status: int | None
    text: str
    latency_ms: float
    error: str | None


async def _post(
    session: aiohttp.ClientSession,
    subscription: Subscription,
    key: bytes,
    msg_id: str,
    body: bytes,
    allowed_hosts: tuple[str, ...] = (),
) -> _Answer:
    """Post one signed message; never raises for what the receiver or network does."""
    if not host_allowed(subscription.url, allowed_hosts):
        return _Answer(None, "", 0.0, "host not allowed by SYNCD_EGRESS_ALLOWED_HOSTS")
    headers = {
        **subscription.headers,
        "content-type": "application/json",
        **signed_headers(key, msg_id, int(time.time()), body),
    }
    start = time.perf_counter()
    status: int | None = None
    text, error = "", None
    try:
        async with session.post(
            subscription.url, data=body, headers=headers, allow_redirects=False
        ) as resp:
            status = resp.status
            # Read (a bounded part of) the answer so the connection can be reused.
            raw = await resp.content.read(RESPONSE_EXCERPT)
            text = raw.decode("utf-8", errors="replace")
    except TimeoutError:
        error = "timeout"
    except (aiohttp.ClientError, OSError) as exc:
        error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    latency = (time.perf_counter() - start) * 1000
    if error is None and status is not None and not 200 <= status < 300:
        error = f"HTTP {status}"
    return _Answer(status, text, latency, error)


def client_session(config: DispatcherConfig) -> aiohttp.ClientSession:
    """One HTTP client for every delivery: pooled, keep-alive connections."""
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=config.max_concurrency, limit_per_host=0),
        # Receivers' cookies are of no use, and their processing costs per request.
        cookie_jar=aiohttp.DummyCookieJar(),
        timeout=aiohttp.ClientTimeout(total=config.timeout),
        headers={"user-agent": _USER_AGENT},
    )


async def send_test(
    subscription: Subscription,
    *,
    answer_within: float = 10.0,
    allowed_hosts: tuple[str, ...] = (),
) -> TestResult:
    """Post a signed ``WEBHOOK_TEST`` message to a subscription's URL, outside the queue."""
    msg_id = f"evt_test_{secrets.token_hex(8)}"
    now = datetime.now(UTC)
    data = {
        "subscription_id": subscription.id,
        "message": "a test message from syncd; verify its signature as for any event",
    }
    body = orjson.dumps(envelope(TEST_EVENT_TYPE, now, data))
    config = DispatcherConfig(timeout=answer_within, lease=answer_within + 1, max_concurrency=1)
    async with client_session(config) as session:
        answer = await _post(
            session, subscription, secret_key(subscription.secret), msg_id, body, allowed_hosts
        )
    return TestResult(msg_id, answer.status, answer.text, answer.latency_ms, answer.error)


class Dispatcher:
    """Delivers queued webhook events until stopped (or, with :meth:`run_once`, until idle)."""

    def __init__(
        self,
        store: WebhookStore,
        config: DispatcherConfig | None = None,
        *,
        metrics: Metrics | None = None,
    ) -> None:
        self.store = store
        self.config = config or DispatcherConfig()
        self._metrics = metrics
        self._stopping = False
        self._wake = anyio.Event()
        self._flush_wanted = anyio.Event()
        self._flush_lock = anyio.Lock()
        self._slots = anyio.Semaphore(self.config.max_concurrency)
        #: Claimed deliveries not yet posted, and the workers posting them.
        self._queues: dict[str, deque[_Job]] = {}
        self._workers: Counter[str] = Counter()
        #: Claimed and not yet recorded, by delivery id.
        self._claimed: dict[int, ClaimedDelivery] = {}
        self._per_sub: Counter[str] = Counter()
        self._outcomes: list[DeliveryOutcome] = []
        self._keys: dict[tuple[str, str], bytes] = {}
        self._report = Counter[str]()
        self._last_fan_out = -math.inf
        self._last_claim = -math.inf
        #: subscription id → (when last logged, failures since, dead-lettered since).
        self._failures: dict[str, tuple[float, int, int]] = {}
        if metrics is not None:
            metrics.track_webhooks_in_flight(lambda: len(self._claimed))

    @property
    def in_flight(self) -> int:
        """Deliveries claimed and not yet recorded."""
        return len(self._claimed)

    @property
    def report(self) -> DispatchReport:
        """Attempts so far, by outcome."""
        r = self._report
        return DispatchReport(delivered=r["delivered"], retrying=r["retry"], dead=r["dead"])

    def request_stop(self) -> None:
        """Stop claiming; :meth:`run` returns once what it holds is delivered and recorded."""
        self._stopping = True
        self._wake.set()

    async def run(self) -> None:
        """Deliver until cancelled (or :meth:`request_stop`)."""
        log.info(
            "webhooks.dispatcher.started",
            concurrency=self.config.max_concurrency,
            poll_interval=self.config.poll_interval,
        )
        try:
            await self._serve(once=False)
        finally:
            log.info("webhooks.dispatcher.stopped", **self._report)

    async def run_once(self) -> DispatchReport:
        """Fan out, deliver everything due now (retries due later stay queued), prune; return."""
        await self._serve(once=True)
        if self.config.retention is not None:
            await self.prune()
        return self.report

    async def prune(self) -> None:
        """Delete events past the retention period with their finished deliveries."""
        if self.config.retention is None:
            return
        counts = await self.store.prune_events(datetime.now(UTC) - self.config.retention)
        if counts.events:
            log.info(
                "webhooks.events.pruned",
                events=counts.events,
                deliveries=counts.deliveries,
                attempts=counts.attempts,
            )

    # -- the loop -------------------------------------------------------------

    async def _serve(self, *, once: bool) -> None:
        cfg = self.config
        try:
            async with client_session(cfg) as session, anyio.create_task_group() as tg:
                tg.start_soon(self._flusher, name="webhook-flusher")
                if not once and cfg.retention is not None:
                    tg.start_soon(self._pruner, name="webhook-pruner")
                await self._loop(tg, session, once=once)
                # Claiming stopped: let the posts in flight finish and be recorded.
                while self._claimed:
                    await self._wait_wake(cfg.poll_interval)
                tg.cancel_scope.cancel()
        finally:
            with anyio.CancelScope(shield=True):
                await self._shutdown()

    async def _loop(
        self, tg: anyio.abc.TaskGroup, session: aiohttp.ClientSession, *, once: bool
    ) -> None:
        busy = True
        while not self._stopping:
            # A claim made while holding deliveries may come back empty for
            # want of room, not of work: only an empty-handed one proves idle.
            held_before = len(self._claimed)
            try:
                progressed = await self._pass(tg, session, probe=not busy)
            except StoreError as exc:
                if once:
                    raise
                # The database may come back: keep polling, never die of it.
                log.warning("webhooks.store_unavailable", error=str(exc))
                progressed = False
            if once and not progressed and not held_before and not self._claimed:
                return
            busy = progressed
            if progressed:
                await anyio.lowlevel.checkpoint()
            else:
                await self._wait_wake(self.config.poll_interval)

    async def _wait_wake(self, at_most: float) -> None:
        with anyio.move_on_after(at_most):
            await self._wake.wait()
        self._wake = anyio.Event()

    async def _pass(
        self, tg: anyio.abc.TaskGroup, session: aiohttp.ClientSession, *, probe: bool
    ) -> bool:
        """Fan out and claim once; True if anything was claimed."""
        cfg = self.config
        now = datetime.now(UTC)
        fan_out, due = True, True
        if probe:
            # One cheap query while idle; the full passes only when there is work.
            work = await self.store.probe()
            fan_out = work.fan_out_due
            due = work.next_attempt_at is not None and work.next_attempt_at <= now
        fanned = 0
        clock = anyio.current_time()
        # While busy, new events are looked for once per poll interval: each
        # fan-out briefly excludes the recording of outcomes.
        if fan_out and (probe or clock - self._last_fan_out >= cfg.poll_interval):
            self._last_fan_out = clock
            while True:
                read = await self.store.fan_out(now, limit=cfg.fanout_batch, hold=cfg.gap_hold)
                fanned += read
                if read < cfg.fanout_batch:
                    break
        if not (due or fanned):
            return False
        claimed = await self._claim(tg, session, force=probe)
        if claimed is None:
            # Holding a full share already: more comes as outcomes are recorded.
            await self._wait_wake(cfg.poll_interval)
            return True
        return claimed > 0

    async def _claim(
        self, tg: anyio.abc.TaskGroup, session: aiohttp.ClientSession, *, force: bool
    ) -> int | None:
        """Claim a batch and start posting it; None if holding enough to wait for outcomes."""
        cfg = self.config
        ahead = max(_CLAIM_AHEAD * cfg.max_concurrency, 2 * cfg.claim_batch)
        room = min(cfg.claim_batch, ahead - len(self._claimed))
        if room < max(1, min(cfg.claim_batch, cfg.max_concurrency) // 4):
            return None
        # Claims come in batches: wait until some subscription has half its
        # share free (or a poll interval passed, for subscriptions not held).
        share = max(_CLAIM_AHEAD * cfg.max_per_subscription, cfg.claim_batch)
        clock = anyio.current_time()
        stale = clock - self._last_claim >= cfg.poll_interval
        if not (force or stale or not self._per_sub) and min(self._per_sub.values()) > share // 2:
            return None
        self._last_claim = clock
        now = datetime.now(UTC)
        claim = await self.store.claim(
            now,
            lease_until=now + timedelta(seconds=cfg.lease),
            limit=room,
            per_subscription=share,
            held=dict(self._per_sub),
        )
        bodies: dict[int, bytes] = {}
        for d in claim.deliveries:
            self._claimed[d.id] = d
            self._per_sub[d.subscription_id] += 1
            if d.event is None:
                # Pruned while queued: nothing left to send.
                self._finish(self._dead_letter(d, "event no longer stored", now))
                continue
            sub = claim.subscriptions[d.subscription_id]
            body = bodies.get(d.event_id)
            if body is None:
                body = bodies[d.event_id] = event_body(d.event)
            self._queues.setdefault(sub.id, deque()).append(
                _Job(d, sub, self._key(sub), body, clock)
            )
        for sub_id, queue in self._queues.items():
            # One worker per posting slot of the subscription, while it has work.
            while self._workers[sub_id] < min(cfg.max_per_subscription, len(queue)):
                self._workers[sub_id] += 1
                tg.start_soon(self._worker, session, sub_id, name=f"webhook-{sub_id}")
        return len(claim.deliveries)

    def _key(self, sub: Subscription) -> bytes:
        cache_key = (sub.id, sub.secret)
        key = self._keys.get(cache_key)
        if key is None:
            # A rotated secret makes a new entry; forget the old ones.
            self._keys = {k: v for k, v in self._keys.items() if k[0] != sub.id}
            key = self._keys[cache_key] = secret_key(sub.secret)
        return key

    # -- posting --------------------------------------------------------------

    async def _worker(self, session: aiohttp.ClientSession, sub_id: str) -> None:
        """Post a subscription's claimed deliveries until its queue is empty."""
        queue = self._queues[sub_id]
        try:
            while queue:
                job = queue.popleft()
                d = job.delivery
                async with self._slots:
                    if anyio.current_time() - job.claimed_at + self.config.timeout >= (
                        self.config.lease
                    ):
                        # A slow receiver kept it queued until its lease could
                        # run out mid-post: let it lapse and be claimed afresh
                        # rather than risk two dispatchers sending it at once.
                        self._abandon(d)
                        continue
                    attempted_at = datetime.now(UTC)
                    answer = await _post(
                        session,
                        job.subscription,
                        job.key,
                        message_id(d.event_id),
                        job.body,
                        self.config.allowed_hosts,
                    )
                self._finish(self._outcome(d, attempted_at, answer))
        finally:
            self._workers[sub_id] -= 1

    def _abandon(self, d: ClaimedDelivery) -> None:
        """Forget a claimed delivery without an outcome: its lease lapses."""
        if self._claimed.pop(d.id, None) is not None:
            self._per_sub[d.subscription_id] -= 1
            if self._per_sub[d.subscription_id] <= 0:
                del self._per_sub[d.subscription_id]
        self._wake.set()

    def _outcome(
        self, d: ClaimedDelivery, attempted_at: datetime, answer: _Answer
    ) -> DeliveryOutcome:
        attempt = d.attempts + 1
        if answer.error is None:
            return DeliveryOutcome(
                delivery_id=d.id,
                subscription_id=d.subscription_id,
                event_id=d.event_id,
                attempt=attempt,
                attempted_at=attempted_at,
                latency_ms=answer.latency_ms,
                status_code=answer.status,
                error=None,
                response=None,
                status=DeliveryStatus.DELIVERED,
                order_key=d.order_key,
            )
        now = datetime.now(UTC)
        first = d.first_attempt_at or attempted_at
        retry_at = self.config.retry.next_attempt(attempt, first, now)
        return DeliveryOutcome(
            delivery_id=d.id,
            subscription_id=d.subscription_id,
            event_id=d.event_id,
            attempt=attempt,
            attempted_at=attempted_at,
            latency_ms=answer.latency_ms,
            status_code=answer.status,
            error=answer.error,
            response=answer.text or None,
            status=DeliveryStatus.PENDING if retry_at else DeliveryStatus.DEAD,
            next_attempt_at=retry_at,
            order_key=d.order_key,
        )

    @staticmethod
    def _dead_letter(d: ClaimedDelivery, reason: str, now: datetime) -> DeliveryOutcome:
        return DeliveryOutcome(
            delivery_id=d.id,
            subscription_id=d.subscription_id,
            event_id=d.event_id,
            attempt=d.attempts + 1,
            attempted_at=now,
            latency_ms=0.0,
            status_code=None,
            error=reason,
            response=None,
            status=DeliveryStatus.DEAD,
            order_key=d.order_key,
        )

    def _finish(self, outcome: DeliveryOutcome) -> None:
        self._outcomes.append(outcome)
        kind = {
            DeliveryStatus.DELIVERED: "delivered",
            DeliveryStatus.PENDING: "retry",
            DeliveryStatus.DEAD: "dead",
        }[outcome.status]
        self._report[kind] += 1
        if self._metrics is not None:
            self._metrics.record_webhook_attempt(kind, outcome.latency_ms / 1000)
        if kind != "delivered":
            self._note_failure(outcome)
        self._flush_wanted.set()

    def _note_failure(self, outcome: DeliveryOutcome) -> None:
        """Log a failing subscription now and then, not once per attempt."""
        sub_id = outcome.subscription_id
        last, failed, dead = self._failures.get(sub_id, (-math.inf, 0, 0))
        failed += 1
        dead += outcome.status is DeliveryStatus.DEAD
        now = time.monotonic()
        if now - last < FAILURE_LOG_EVERY:
            self._failures[sub_id] = (last, failed, dead)
            return
        self._failures[sub_id] = (now, 0, 0)
        log.warning(
            "webhooks.delivery.failing",
            subscription_id=sub_id,
            failed=failed,
            dead_lettered=dead,
            last_error=outcome.error,
            last_status=outcome.status_code,
        )

    # -- recording ------------------------------------------------------------

    async def _flusher(self) -> None:
        while True:
            await self._flush_wanted.wait()
            self._flush_wanted = anyio.Event()
            if len(self._outcomes) < self.config.claim_batch:
                # Let more outcomes join: one statement for many deliveries.
                await anyio.sleep(self.config.flush_interval)
            if not await self._flush():
                await anyio.sleep(self.config.poll_interval)
                self._flush_wanted.set()

    async def _flush(self) -> bool:
        """Record buffered outcomes; False if the database refused (they stay buffered)."""
        async with self._flush_lock:
            batch, self._outcomes = self._outcomes, []
            if not batch:
                return True
            try:
                await self.store.record_outcomes(batch)
            except StoreError as exc:
                log.warning("webhooks.record_failed", error=str(exc), outcomes=len(batch))
                self._outcomes[:0] = batch
                return False
            for o in batch:
                if self._claimed.pop(o.delivery_id, None) is not None:
                    self._per_sub[o.subscription_id] -= 1
                    if self._per_sub[o.subscription_id] <= 0:
                        del self._per_sub[o.subscription_id]
            self._wake.set()
            return True

    async def _shutdown(self) -> None:
        """Record what was attempted and hand back what was not (shielded)."""
        try:
            await self._flush()
            attempted = {o.delivery_id for o in self._outcomes}
            unsent = [i for i in self._claimed if i not in attempted]
            if unsent:
                await self.store.release(unsent, datetime.now(UTC))
                log.info("webhooks.deliveries.released", count=len(unsent))
            self._claimed.clear()
            self._per_sub.clear()
            self._queues.clear()
        except StoreError as exc:
            # Their leases simply expire and another pass retries them.
            log.warning("webhooks.shutdown_record_failed", error=str(exc))

    async def _pruner(self) -> None:
        while True:
            try:
                await self.prune()
            except StoreError as exc:
                log.warning("webhooks.prune_failed", error=str(exc))
            await anyio.sleep(self.config.prune_every)
