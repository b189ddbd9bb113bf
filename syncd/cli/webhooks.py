"""``syncd webhooks …`` and ``syncd events …``: subscriptions, delivery, the change feed."""

from __future__ import annotations

import argparse
import re
import signal
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import anyio
import structlog

from syncd.app import make_dispatcher, make_webhook_store, open_store
from syncd.cli.common import EXIT_FAILED, EXIT_OK, Subparsers, option_error
from syncd.cli.output import console, print_json
from syncd.errors import ConfigError
from syncd.events import iso_utc, message_id, parse_message_id
from syncd.progress import table
from syncd.services.events import event_page_json, list_events, prune_events
from syncd.services.webhooks import (
    NewSubscription,
    add_subscription,
    deliver_due,
    delivery_log,
    delivery_log_json,
    list_subscriptions,
    remove_subscription,
    replay_deliveries,
    rotate_secret,
    send_test_message,
    set_subscription_state,
    subscription_json,
    subscription_status_json,
)
from syncd.settings import Settings
from syncd.store.sql import SqlStore
from syncd.store.webhook_base import EVENT_TYPES, SubscriptionState
from syncd.store.webhooks import SqlWebhookStore
from syncd.webhooks.spec import KNOWN_MODELS, parse_headers

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)([smhd])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}

#: The option behind each field a webhook service error may name.
_WEBHOOK_OPTIONS = {
    "url": "--url",
    "triggers": "--trigger",
    "models": "--model",
    "headers": "--header",
    "secret": "--secret",
    "event_id": "EVENT_ID",
}
#: The option behind each field an events service error may name.
_EVENT_OPTIONS = {
    "since": "--since",
    "limit": "--limit",
    "model": "--model",
    "older_than_days": "--older-than-days",
}

log = structlog.get_logger(__name__)


def add_parsers(sub: Subparsers) -> None:
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


# -- argument parsing ----------------------------------------------------------


def _split(values: Sequence[str]) -> list[str]:
    """Repeated and comma-separated values, in order (``--trigger A,B --trigger C``)."""
    return [item for value in values for item in value.split(",")]


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


# -- webhooks ------------------------------------------------------------------


async def cmd_webhooks(args: argparse.Namespace, settings: Settings) -> int:
    """``syncd webhooks …``."""
    async with open_store(settings) as base:
        store = make_webhook_store(base)
        try:
            return await _webhooks(args, base, store, settings)
        except ConfigError as exc:
            raise option_error(exc, _WEBHOOK_OPTIONS) from None


async def _webhooks(
    args: argparse.Namespace, base: SqlStore, store: SqlWebhookStore, settings: Settings
) -> int:
    action = args.webhooks_command
    if action == "add":
        return await _add(args, store)
    if action == "list":
        return await _list(args, store)
    if action == "remove":
        await remove_subscription(store, args.subscription)
        print(f"{args.subscription}: removed")
        return EXIT_OK
    if action in ("pause", "resume"):
        state = SubscriptionState.PAUSED if action == "pause" else SubscriptionState.ACTIVE
        await set_subscription_state(store, args.subscription, state)
        print(f"{args.subscription}: {action}d")
        return EXIT_OK
    if action == "rotate-secret":
        generated = await rotate_secret(store, args.subscription, args.secret or None)
        print(f"{args.subscription}: secret replaced")
        if generated:
            print(f"secret: {generated}")
            print("(shown once: give it to the receiver now)")
        return EXIT_OK
    if action == "test":
        result = await send_test_message(store, settings, args.subscription)
        if result.status is None:
            print(f"{result.message_id}: no answer ({result.error})")
        else:
            print(f"{result.message_id}: HTTP {result.status} in {result.latency_ms:.0f} ms")
            if result.body:
                print(result.body)
        return EXIT_OK if result.ok else EXIT_FAILED
    if action == "deliver":
        return await _deliver(args, base, store, settings)
    if action == "replay":
        return await _replay(args, store)
    return await _log(args, store)


async def _add(args: argparse.Namespace, store: SqlWebhookStore) -> int:
    request = NewSubscription(
        url=args.url,
        triggers=_split(args.trigger),
        models=_split(args.model),
        headers=parse_headers(args.header),
        secret=args.secret,
        paused=args.paused,
    )
    added = await add_subscription(store, request)
    sub = added.subscription
    if args.json:
        data = subscription_json(sub)
        if added.generated_secret:
            data["secret"] = added.generated_secret
        print_json(data)
        return EXIT_OK
    print(f"added webhook subscription {sub.id} ({', '.join(sub.triggers)} → {sub.url})")
    if added.generated_secret:
        print(f"secret: {added.generated_secret}")
        print("(shown once: give it to the receiver now)")
    return EXIT_OK


async def _list(args: argparse.Namespace, store: SqlWebhookStore) -> int:
    rows = [subscription_status_json(s) for s in await list_subscriptions(store)]
    if args.json:
        print_json(rows)
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
        console().print(listing)
    return EXIT_OK


async def _deliver(
    args: argparse.Namespace, base: SqlStore, store: SqlWebhookStore, settings: Settings
) -> int:
    if args.once:
        report = await deliver_due(store, settings)
        print(
            f"delivered {report.delivered}, failed {report.retrying} (will retry), "
            f"dead-lettered {report.dead}"
        )
        return EXIT_OK
    dispatcher = make_dispatcher(base, settings)
    async with anyio.create_task_group() as tg:

        async def watch() -> None:
            with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
                async for signum in signals:
                    log.info("webhooks.dispatcher.stopping", signal=signal.Signals(signum).name)
                    # Stop claiming; what is in hand is delivered and recorded first.
                    dispatcher.request_stop()
                    return

        tg.start_soon(watch, name="signal-watch")
        await dispatcher.run()
        tg.cancel_scope.cancel()
    return EXIT_OK


async def _replay(args: argparse.Namespace, store: SqlWebhookStore) -> int:
    if not (args.dead or args.since or args.event):
        raise ConfigError("say what to replay: --dead, --since TIME and/or --event ID")
    now = datetime.now(UTC)
    count = await replay_deliveries(
        store,
        dead_only=args.dead,
        since=parse_since(args.since, now) if args.since else None,
        event_id=_event_id(args.event, "--event") if args.event else None,
        subscription_id=args.subscription,
        now=now,
    )
    print(f"{count} deliveries queued again")
    return EXIT_OK


async def _log(args: argparse.Namespace, store: SqlWebhookStore) -> int:
    entry = await delivery_log(store, _event_id(args.event, "EVENT_ID"))
    if args.json:
        print_json(delivery_log_json(entry))
        return EXIT_OK
    event, deliveries, attempts = entry.event, entry.deliveries, entry.attempts
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
        console().print(attempts_table)
    return EXIT_OK


# -- events --------------------------------------------------------------------


async def cmd_events(args: argparse.Namespace, settings: Settings) -> int:
    """``syncd events …``."""
    async with open_store(settings) as base:
        store = make_webhook_store(base)
        try:
            if args.events_command == "prune":
                counts = await prune_events(store, settings, older_than_days=args.older_than_days)
                print(
                    f"pruned {counts.events} events, {counts.deliveries} deliveries, "
                    f"{counts.attempts} attempts"
                )
                return EXIT_OK
            page = await list_events(
                store,
                since=args.since,
                model=args.model,
                limit=args.limit,
                settle_seconds=args.settle,
            )
        except ConfigError as exc:
            raise option_error(exc, _EVENT_OPTIONS) from None
        if args.json:
            print_json(event_page_json(page))
            return EXIT_OK
        for e in page.events:
            where = f"{e.model}/{e.record_id}" if e.model else "-"
            print(f"{e.id}\t{iso_utc(e.created_at)}\t{e.type}\t{e.integration_id}\t{where}")
        print(f"next cursor: {page.next_cursor}")
        return EXIT_OK
