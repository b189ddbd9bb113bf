"""``syncd webhooks …`` and ``syncd events …``: subscriptions, delivery, the change feed."""

from __future__ import annotations

import argparse
import json
import re
import secrets
import signal
import sys
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import anyio
import structlog
from rich.console import Console

from syncd.app import make_dispatcher, make_webhook_store, open_store
from syncd.errors import ConfigError
from syncd.progress import table
from syncd.settings import Settings
from syncd.store.sql import SqlStore
from syncd.store.webhook_base import (
    EVENT_TYPES,
    DeliveryStatus,
    Subscription,
    SubscriptionState,
    WebhookStore,
)
from syncd.urls import check_http_url
from syncd.webhooks.dispatcher import send_test
from syncd.webhooks.messages import event_json, iso_utc, message_id, parse_message_id
from syncd.webhooks.signing import generate_secret, secret_key
from syncd.webhooks.spec import KNOWN_MODELS, parse_headers, subscription_spec

EXIT_OK, EXIT_FAILED = 0, 1
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)([smhd])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}

log = structlog.get_logger(__name__)


def add_parsers(sub: Any) -> None:
    """Add the ``webhooks`` and ``events`` subcommands to the main parser."""
    hooks = sub.add_parser(
        "webhooks", help="webhook subscriptions and delivery (Standard Webhooks)"
    ).add_subparsers(dest="webhooks_command", required=True)
    add = hooks.add_parser("add", help="subscribe a URL to events (prints the secret once)")
    add.add_argument("--url", required=True, help="the receiver's http(s) URL")
    add.add_argument(
        "--trigger",
        action="append",
        required=True,
        metavar="TRIGGER",
        help=f"an event type to send (repeat or comma-separate): {', '.join(EVENT_TYPES)}",
    )
    add.add_argument(
        "--model",
        action="append",
        default=[],
        metavar="MODEL",
        help="only data events of this model (repeat; default all): " + ", ".join(KNOWN_MODELS),
    )
    add.add_argument(
        "--header",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="an extra header on every delivery (repeat); values are encrypted at rest",
    )
    add.add_argument("--secret", help="use this whsec_… secret instead of a generated one")
    add.add_argument("--paused", action="store_true", help="create paused (events queue up)")
    add.add_argument("--json", action="store_true", help="JSON output")
    hlist = hooks.add_parser("list", help="subscriptions with their queued and dead deliveries")
    hlist.add_argument("--json", action="store_true", help="JSON output")
    for name, text in (
        ("remove", "delete a subscription and its queued deliveries"),
        ("pause", "stop delivering to a subscription (events keep queueing)"),
        ("resume", "deliver to a paused subscription again, queued events first"),
    ):
        p = hooks.add_parser(name, help=text)
        p.add_argument("subscription", help="subscription id")
    rotate = hooks.add_parser("rotate-secret", help="give a subscription a new secret")
    rotate.add_argument("subscription", help="subscription id")
    rotate.add_argument("--secret", help="use this whsec_… secret instead of a generated one")
    test = hooks.add_parser("test", help="send a signed WEBHOOK_TEST message now")
    test.add_argument("subscription", help="subscription id")
    deliver = hooks.add_parser(
        "deliver", help="run a dispatcher (as syncd serve does) until SIGTERM"
    )
    deliver.add_argument(
        "--once", action="store_true", help="deliver what is due now and exit (for cron)"
    )
    replay = hooks.add_parser("replay", help="queue delivered or dead-lettered deliveries again")
    replay.add_argument("--dead", action="store_true", help="only dead-lettered deliveries")
    replay.add_argument(
        "--since", metavar="TIME", help="events since an ISO-8601 time or a duration ago (90m, 2d)"
    )
    replay.add_argument("--event", metavar="EVENT_ID", help="one event (evt_N or N)")
    replay.add_argument("--subscription", help="only this subscription")
    hlog = hooks.add_parser("log", help="an event's deliveries and every attempt")
    hlog.add_argument("event", metavar="EVENT_ID", help="evt_N or N")
    hlog.add_argument("--json", action="store_true", help="JSON output")

    events = sub.add_parser("events", help="the change feed").add_subparsers(
        dest="events_command", required=True
    )
    elist = events.add_parser("list", help="events after a cursor, oldest first")
    elist.add_argument("--since", default="0", metavar="CURSOR", help="the cursor a page ended at")
    elist.add_argument("--model", choices=KNOWN_MODELS, help="only this model")
    elist.add_argument("--limit", type=int, default=100, help="events per page (1-10000)")
    elist.add_argument(
        "--settle",
        type=float,
        default=5.0,
        metavar="SECONDS",
        help="leave out events younger than this, so a transaction still committing "
        "is never skipped by the cursor (default 5; 0 for everything now)",
    )
    elist.add_argument("--json", action="store_true", help="JSON output")
    prune = events.add_parser("prune", help="delete events past the retention period")
    prune.add_argument("--older-than-days", type=float, help="default: SYNCD_EVENT_RETENTION_DAYS")


def _print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


def _console() -> Console:
    probe = Console()
    return probe if probe.is_terminal else Console(width=200)


def _triggers(values: Sequence[str]) -> tuple[str, ...]:
    return tuple(t.strip().upper() for v in values for t in v.split(",") if t.strip())


def _models(values: Sequence[str]) -> tuple[str, ...]:
    return tuple(m.strip() for v in values for m in v.split(",") if m.strip())


def parse_since(value: str, now: datetime) -> datetime:
    """An ISO-8601 time (UTC if no zone) or a duration ago (``90m``, ``2h``, ``1d``)."""
    if match := _DURATION.match(value.strip()):
        return now - timedelta(seconds=float(match[1]) * _UNITS[match[2]])
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError as exc:
        raise ConfigError(
            f"{value!r} is neither an ISO-8601 time nor a duration like 90m", field="--since"
        ) from exc
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def _event_id(value: str, option: str) -> int:
    try:
        return parse_message_id(value)
    except ValueError as exc:
        raise ConfigError(str(exc), field=option) from exc


def _subscription_json(
    sub: Subscription, counts: dict[DeliveryStatus, int] | None = None, unqueued: int = 0
) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": sub.id,
        "url": sub.url,
        "state": sub.state.value,
        "triggers": list(sub.triggers),
        "models": list(sub.models) if sub.models is not None else None,
        # Names only: values may be credentials.
        "headers": sorted(sub.headers),
        "created_at": sub.created_at.isoformat() if sub.created_at else None,
    }
    if counts is not None:
        # Everything it will still be sent: queued deliveries, and the events
        # the dispatcher has not fanned out to it yet.
        data["pending"] = (
            counts.get(DeliveryStatus.PENDING, 0) + counts.get(DeliveryStatus.WAITING, 0) + unqueued
        )
        data["not_yet_queued"] = unqueued
        data["dead"] = counts.get(DeliveryStatus.DEAD, 0)
    return data


async def cmd_webhooks(args: argparse.Namespace, settings: Settings) -> int:
    """``syncd webhooks …``."""
    async with open_store(settings) as base:
        store = make_webhook_store(base)
        action = args.webhooks_command
        if action == "add":
            return await _add(args, store)
        if action == "list":
            subs = await store.list_subscriptions()
            counts = await store.delivery_counts()
            unqueued = await store.unqueued_counts()
            rows = [
                _subscription_json(s, counts.get(s.id, {}), unqueued.get(s.id, 0)) for s in subs
            ]
            if args.json:
                _print_json(rows)
            elif not rows:
                print("no webhook subscriptions")
            else:
                listing = table(
                    "webhook subscriptions",
                    *("id", "url", "state", "triggers", "models", "pending", "dead"),
                    right=("pending", "dead"),
                )
                for r in rows:
                    listing.add_row(
                        r["id"],
                        r["url"],
                        r["state"],
                        # Comma and space: a narrow terminal wraps between triggers.
                        ", ".join(r["triggers"]),
                        ", ".join(r["models"]) if r["models"] else "all",
                        str(r["pending"]),
                        str(r["dead"]),
                    )
                _console().print(listing)
            return EXIT_OK
        if action == "remove":
            await store.remove_subscription(args.subscription)
            log.info("webhooks.subscription.removed", subscription_id=args.subscription)
            print(f"{args.subscription}: removed")
            return EXIT_OK
        if action in ("pause", "resume"):
            state = SubscriptionState.PAUSED if action == "pause" else SubscriptionState.ACTIVE
            await store.set_subscription_state(args.subscription, state)
            log.info(f"webhooks.subscription.{action}d", subscription_id=args.subscription)
            print(f"{args.subscription}: {action}d")
            return EXIT_OK
        if action == "rotate-secret":
            if args.secret:
                secret_key(args.secret)  # refuses a malformed one
            secret = args.secret or generate_secret()
            await store.set_subscription_secret(args.subscription, secret)
            log.info("webhooks.subscription.secret_rotated", subscription_id=args.subscription)
            print(f"{args.subscription}: secret replaced")
            if not args.secret:
                print(f"secret: {secret}")
                print("(shown once: give it to the receiver now)")
            return EXIT_OK
        if action == "test":
            sub = await store.get_subscription(args.subscription)
            result = await send_test(sub, answer_within=settings.webhook_timeout_seconds)
            if result.status is None:
                print(f"{result.message_id}: no answer ({result.error})")
            else:
                print(f"{result.message_id}: HTTP {result.status} in {result.latency_ms:.0f} ms")
                if result.body:
                    print(result.body)
            return EXIT_OK if result.ok else EXIT_FAILED
        if action == "deliver":
            return await _deliver(args, base, settings)
        if action == "replay":
            return await _replay(args, store)
        return await _log(args, store)


async def _add(args: argparse.Namespace, store: WebhookStore) -> int:
    try:
        check_http_url(args.url)
    except ValueError as exc:
        raise ConfigError(str(exc), field="--url") from None
    spec = subscription_spec(
        url=args.url,
        triggers=_triggers(args.trigger),
        models=_models(args.model) or None,
        headers=parse_headers(args.header),
        secret=args.secret,
    )
    secret = spec.secret or generate_secret()
    sub = await store.add_subscription(
        Subscription(
            id=f"wh_{secrets.token_hex(6)}",
            url=spec.url,
            triggers=spec.triggers,
            models=spec.models,
            headers=spec.headers,
            secret=secret,
            state=SubscriptionState.PAUSED if args.paused else SubscriptionState.ACTIVE,
        )
    )
    log.info("webhooks.subscription.added", subscription_id=sub.id, triggers=list(sub.triggers))
    if args.json:
        data = _subscription_json(sub)
        if not args.secret:
            data["secret"] = secret
        _print_json(data)
        return EXIT_OK
    print(f"added webhook subscription {sub.id} ({', '.join(sub.triggers)} → {sub.url})")
    if not args.secret:
        print(f"secret: {secret}")
        print("(shown once: give it to the receiver now)")
    return EXIT_OK


async def _deliver(args: argparse.Namespace, base: SqlStore, settings: Settings) -> int:
    dispatcher = make_dispatcher(base, settings)
    if args.once:
        report = await dispatcher.run_once()
        print(
            f"delivered {report.delivered}, failed {report.retrying} (will retry), "
            f"dead-lettered {report.dead}"
        )
        return EXIT_OK
    async with anyio.create_task_group() as tg:

        async def watch() -> None:
            with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
                async for signum in signals:
                    log.info("webhooks.dispatcher.stopping", signal=signal.Signals(signum).name)
                    dispatcher.request_stop()
                    return

        tg.start_soon(watch, name="signal-watch")
        await dispatcher.run()
        tg.cancel_scope.cancel()
    return EXIT_OK


async def _replay(args: argparse.Namespace, store: WebhookStore) -> int:
    if not (args.dead or args.since or args.event):
        raise ConfigError("say what to replay: --dead, --since TIME and/or --event ID")
    now = datetime.now(UTC)
    if args.subscription:
        await store.get_subscription(args.subscription)
    count = await store.replay(
        now,
        subscription_id=args.subscription,
        dead_only=args.dead,
        since=parse_since(args.since, now) if args.since else None,
        event_id=_event_id(args.event, "--event") if args.event else None,
    )
    log.info("webhooks.replayed", deliveries=count)
    print(f"{count} deliveries queued again")
    return EXIT_OK


async def _log(args: argparse.Namespace, store: WebhookStore) -> int:
    event_id = _event_id(args.event, "EVENT_ID")
    event = await store.get_event(event_id)
    deliveries, attempts = await store.delivery_log(event_id)
    if event is None and not deliveries:
        raise ConfigError(f"no event {message_id(event_id)}", field="EVENT_ID")
    if args.json:
        _print_json(
            {
                "event": event_json(event) if event else None,
                "deliveries": [
                    {
                        "subscription_id": d.subscription_id,
                        "status": d.status.value,
                        "attempts": d.attempts,
                        "next_attempt_at": d.next_attempt_at,
                        "last_status_code": d.last_status_code,
                        "last_error": d.last_error,
                        "delivered_at": d.delivered_at,
                    }
                    for d in deliveries
                ],
                "attempts": [
                    {
                        "subscription_id": a.subscription_id,
                        "attempt": a.attempt,
                        "attempted_at": a.attempted_at,
                        "status_code": a.status_code,
                        "latency_ms": round(a.latency_ms, 2),
                        "error": a.error,
                        "response": a.response,
                    }
                    for a in attempts
                ],
            }
        )
        return EXIT_OK
    if event is not None:
        print(f"{message_id(event.id)} {event.type} at {iso_utc(event.created_at)}")
    if not deliveries:
        print("no deliveries (no subscription wanted it)")
    for d in deliveries:
        when = f", next try {iso_utc(d.next_attempt_at)}" if d.next_attempt_at else ""
        print(f"  {d.subscription_id}: {d.status.value} after {d.attempts} attempt(s){when}")
    if attempts:
        attempts_table = table(
            "attempts",
            *("subscription", "#", "at", "status", "latency ms", "error"),
            right=("#", "latency ms"),
        )
        for a in attempts:
            attempts_table.add_row(
                a.subscription_id,
                str(a.attempt),
                iso_utc(a.attempted_at),
                str(a.status_code or "-"),
                f"{a.latency_ms:.1f}",
                a.error or "",
            )
        _console().print(attempts_table)
    return EXIT_OK


async def cmd_events(args: argparse.Namespace, settings: Settings) -> int:
    """``syncd events …``."""
    async with open_store(settings) as base:
        store = make_webhook_store(base)
        if args.events_command == "prune":
            days = args.older_than_days or settings.event_retention_days
            if days <= 0:
                raise ConfigError("must be positive", field="--older-than-days")
            counts = await store.prune_events(datetime.now(UTC) - timedelta(days=days))
            print(
                f"pruned {counts.events} events, {counts.deliveries} deliveries, "
                f"{counts.attempts} attempts"
            )
            return EXIT_OK
        if not 1 <= args.limit <= 10000:
            raise ConfigError("must be between 1 and 10000", field="--limit")
        cursor = args.since.strip()
        if not cursor.isdigit():
            raise ConfigError(f"{cursor!r} is not a cursor (a number)", field="--since")
        # Events settle a few seconds first: see WebhookStore.list_events.
        settled = datetime.now(UTC) - timedelta(seconds=args.settle)
        events = await store.list_events(
            after=int(cursor), model=args.model, limit=args.limit, created_before=settled
        )
        next_cursor = str(events[-1].id) if events else cursor
        if args.json:
            _print_json(
                {
                    "events": [event_json(e) for e in events],
                    "next_cursor": next_cursor,
                    "has_more": len(events) == args.limit,
                }
            )
            return EXIT_OK
        for e in events:
            where = f"{e.model}/{e.record_id}" if e.model else "-"
            print(f"{e.id}\t{iso_utc(e.created_at)}\t{e.type}\t{e.integration_id}\t{where}")
        print(f"next cursor: {next_cursor}")
        return EXIT_OK
