"""Prometheus metrics of one syncd process.

Every :class:`Metrics` owns its own :class:`~prometheus_client.CollectorRegistry`
(never the process-global one), so tests and several daemons in one
interpreter never see each other's series. The HTTP server exposes
:meth:`Metrics.render` at ``/metrics``.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

from syncd import __version__

#: Buckets of a model run's duration: a tenth of a second to two hours.
RUN_DURATION_BUCKETS: tuple[float, ...] = (
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
    120.0,
    300.0,
    600.0,
    1200.0,
    1800.0,
    3600.0,
    7200.0,
)

#: Buckets of how late a due schedule was claimed: ten milliseconds to ten minutes.
SCHEDULE_LAG_BUCKETS: tuple[float, ...] = (
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
    120.0,
    300.0,
    600.0,
)


#: Buckets of a webhook receiver's answer time: a millisecond to a minute.
WEBHOOK_LATENCY_BUCKETS: tuple[float, ...] = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
)


def _count(value: int) -> int:
    # Counters only go up; a negative delta from a caller's bug must not raise
    # in the middle of a sync.
    return value if value > 0 else 0


class Metrics:
    """The daemon's metrics, registered on a registry of their own.

    Record with :meth:`record_model_run`, :meth:`record_pms_traffic`,
    :meth:`record_schedule_lag`, :meth:`set_leases_held` (or
    :meth:`track_leases_held`) and :meth:`mark_scheduler_tick`; expose with
    :meth:`render`.
    """

    def __init__(
        self, *, version: str = __version__, registry: CollectorRegistry | None = None
    ) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        reg = self.registry
        self.runs = Counter(
            "syncd_runs_total",
            "Finished model runs by outcome.",
            ("vendor", "model", "status"),
            registry=reg,
        )
        self.records_processed = Counter(
            "syncd_records_processed_total",
            "Records fetched from the PMS and processed.",
            ("vendor", "model"),
            registry=reg,
        )
        self.records_quarantined = Counter(
            "syncd_records_quarantined_total",
            "Records that failed to transform and went to quarantine.",
            ("vendor", "model"),
            registry=reg,
        )
        self.run_duration = Histogram(
            "syncd_run_duration_seconds",
            "Wall-clock duration of a model run.",
            ("vendor", "model"),
            buckets=RUN_DURATION_BUCKETS,
            registry=reg,
        )
        self.pms_requests = Counter(
            "syncd_pms_requests_total",
            "HTTP requests sent to a PMS.",
            ("vendor",),
            registry=reg,
        )
        self.pms_throttled = Counter(
            "syncd_pms_throttled_total",
            "PMS answers of 429 Too Many Requests.",
            ("vendor",),
            registry=reg,
        )
        self.pms_retries = Counter(
            "syncd_pms_retries_total",
            "PMS requests retried after a transient failure.",
            ("vendor",),
            registry=reg,
        )
        self.schedule_lag = Histogram(
            "syncd_schedule_lag_seconds",
            "How late a due schedule was claimed, after its fire time.",
            buckets=SCHEDULE_LAG_BUCKETS,
            registry=reg,
        )
        self.leases_held = Gauge(
            "syncd_leases_held",
            "Schedule leases this node holds (jobs it is running).",
            registry=reg,
        )
        self.scheduler_last_tick = Gauge(
            "syncd_scheduler_last_tick_timestamp_seconds",
            "Unix time of the scheduler loop's last completed tick.",
            registry=reg,
        )
        self.webhook_attempts = Counter(
            "syncd_webhook_attempts_total",
            "Webhook delivery attempts by outcome (delivered, retry, dead).",
            ("outcome",),
            registry=reg,
        )
        self.webhook_latency = Histogram(
            "syncd_webhook_attempt_duration_seconds",
            "Time a receiver took to answer one webhook delivery attempt.",
            buckets=WEBHOOK_LATENCY_BUCKETS,
            registry=reg,
        )
        self.webhooks_in_flight = Gauge(
            "syncd_webhooks_in_flight",
            "Webhook deliveries this node has claimed and not yet recorded.",
            registry=reg,
        )
        self.build_info = Gauge(
            "syncd_build_info",
            "Always 1; the version label names the running syncd.",
            ("version",),
            registry=reg,
        )
        self.build_info.labels(version=version).set(1)

    def record_model_run(
        self,
        *,
        vendor: str,
        model: str,
        status: str,
        duration_seconds: float,
        processed: int = 0,
        quarantined: int = 0,
        requests: int = 0,
        throttled: int = 0,
        retries: int = 0,
    ) -> None:
        """Count one finished model run: its outcome, duration, records and PMS traffic.

        ``status`` is a :class:`~syncd.domain.RunStatus` (or its string value).
        """
        self.runs.labels(vendor=vendor, model=model, status=str(status)).inc()
        self.run_duration.labels(vendor=vendor, model=model).observe(max(duration_seconds, 0.0))
        self.records_processed.labels(vendor=vendor, model=model).inc(_count(processed))
        self.records_quarantined.labels(vendor=vendor, model=model).inc(_count(quarantined))
        self.record_pms_traffic(
            vendor=vendor, requests=requests, throttled=throttled, retries=retries
        )

    def record_pms_traffic(
        self, *, vendor: str, requests: int = 0, throttled: int = 0, retries: int = 0
    ) -> None:
        """Add PMS requests, 429 answers and retries not counted by :meth:`record_model_run`."""
        self.pms_requests.labels(vendor=vendor).inc(_count(requests))
        self.pms_throttled.labels(vendor=vendor).inc(_count(throttled))
        self.pms_retries.labels(vendor=vendor).inc(_count(retries))

    def record_schedule_lag(self, seconds: float) -> None:
        """Observe how many seconds after its fire time a schedule was claimed.

        A negative lag (clocks of several nodes disagreeing) counts as zero.
        """
        self.schedule_lag.observe(max(seconds, 0.0))

    def set_leases_held(self, count: int) -> None:
        """Set the number of schedule leases this node holds."""
        self.leases_held.set(max(count, 0))

    def track_leases_held(self, source: Callable[[], int]) -> None:
        """Read the leases held from ``source`` at every scrape instead of setting it."""
        self.leases_held.set_function(lambda: float(source()))

    def mark_scheduler_tick(self, timestamp: float | None = None) -> None:
        """Record that the scheduler loop ticked at ``timestamp`` (Unix time; default now)."""
        self.scheduler_last_tick.set(time.time() if timestamp is None else timestamp)

    def record_webhook_attempt(self, outcome: str, seconds: float) -> None:
        """Count one webhook attempt (``delivered``, ``retry`` or ``dead``) and its latency."""
        self.webhook_attempts.labels(outcome=outcome).inc()
        self.webhook_latency.observe(max(seconds, 0.0))

    def track_webhooks_in_flight(self, source: Callable[[], int]) -> None:
        """Read the webhook deliveries in flight from ``source`` at every scrape."""
        self.webhooks_in_flight.set_function(lambda: float(source()))

    def render(self) -> tuple[bytes, str]:
        """The Prometheus text exposition of every metric, and its content type."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
