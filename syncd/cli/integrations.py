"""``syncd integrations …``: add, clone, list, show, enable, disable, archive, unarchive,
config, properties, property, pause, resume, remove, sync."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from syncd.app import open_store
from syncd.cli.checks import add_check_parser, check_integration
from syncd.cli.common import (
    EXIT_OK,
    Aborted,
    Subparsers,
    UsageError,
    option_error,
    parse_credentials,
)
from syncd.cli.output import console, print_json
from syncd.cli.run import add_sync_parser, queue_sync
from syncd.connectors.registry import known_vendors
from syncd.domain import Environment, Integration, ScheduleState
from syncd.errors import ConfigError
from syncd.integration_config import load_file
from syncd.progress import run_json, table
from syncd.services.cloning import clone_integration
from syncd.services.integrations import (
    NewIntegration,
    SettingsDocument,
    add_integration,
    config_json,
    configure_integration,
    find_integration,
    integration_json,
    list_integrations,
    remove_integration,
    set_archived,
    set_integration_enabled,
    show_integration,
)
from syncd.services.properties import (
    PropertyNotFound,
    PropertySetting,
    list_property_settings,
    set_property_enabled,
)
from syncd.services.schedules import set_schedules_state
from syncd.settings import Settings
from syncd.store.sql import SqlStore

#: The option of ``integrations add`` behind each field of the request.
_ADD_OPTIONS = {
    "vendor": "--vendor",
    "name": "--name",
    "id": "--id",
    "credentials": "--credential",
    "base_url": "--base-url",
    "rate_limit_per_second": "--rate-limit",
    "page_size": "--page-size",
}


def add_parsers(sub: Subparsers) -> None:
    """Add the ``integrations`` subcommands to the main parser."""
    integ = sub.add_parser("integrations", help="manage integrations").add_subparsers(
        dest="integrations_command", required=True
    )
    add = integ.add_parser("add", help="add an integration (disabled until enabled)")
    add.add_argument("--vendor", required=True, help=f"PMS vendor ({', '.join(known_vendors())})")
    add.add_argument("--name", required=True, help="a unique display name")
    add.add_argument("--id", dest="integration_id", help="a unique slug (default: from the name)")
    add.add_argument("--environment", choices=[e.value for e in Environment], default="production")
    add.add_argument(
        "--credential",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a credential (repeat); encrypted at rest",
    )
    add.add_argument("--base-url", help="PMS base URL (default: the vendor's for the environment)")
    add.add_argument("--rate-limit", type=float, help="max PMS requests per second (0 = no limit)")
    add.add_argument("--page-size", type=int, help="records per PMS request")
    add.add_argument("--enable", action="store_true", help="enable at once")
    listing = integ.add_parser("list", help="list integrations")
    listing.add_argument("--json", action="store_true", help="JSON output")
    show = integ.add_parser("show", help="show one integration")
    show.add_argument("integration", help="id or name")
    show.add_argument("--json", action="store_true", help="JSON output")
    for name in ("enable", "disable"):
        p = integ.add_parser(name, help=f"{name} an integration")
        p.add_argument("integration", help="id or name")
    remove = integ.add_parser(
        "remove",
        help="delete an integration with its credentials, schedules, checkpoints, cached "
        "records, quarantine and job log (asks first; change events already in the outbox "
        "stay until pruned)",
    )
    remove.add_argument("integration", help="id or name")
    remove.add_argument(
        "--yes", action="store_true", help="do not ask (required without a terminal)"
    )
    remove.add_argument("--json", action="store_true", help="JSON output (rows removed per table)")
    config = integ.add_parser(
        "config",
        help="show or change an integration's configuration (schedules, job controls, enum maps)",
    )
    config.add_argument("integration", help="id or name")
    config.add_argument(
        "--set",
        dest="settings",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="e.g. jobs.leads.enabled=false, rate_limit_per_second=1, "
        "schedules.incremental='{type: interval, seconds: 600}' (repeat)",
    )
    config.add_argument("--file", type=Path, help="a YAML file of settings")
    config.add_argument("--json", action="store_true", help="JSON output")
    for name in ("pause", "resume"):
        p = integ.add_parser(name, help=f"{name} the schedules of an integration (or one job)")
        p.add_argument("integration", help="id or name")
        p.add_argument("--job", help="only this job (incremental, full)")
    add_sync_parser(integ)
    _add_more_parsers(integ)


def _add_more_parsers(integ: Subparsers) -> None:
    clone = integ.add_parser(
        "clone",
        help="add a disabled integration with another's schedules, date filters, job "
        "controls, enum maps and connector controls (not its credentials, properties or data)",
    )
    clone.add_argument("source", help="the integration to copy (id or name)")
    clone.add_argument("--name", required=True, help="a unique display name")
    clone.add_argument("--id", dest="integration_id", help="a unique slug (default: from the name)")
    clone.add_argument(
        "--credential",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a credential of the new account (repeat); encrypted at rest",
    )
    clone.add_argument("--base-url", help="PMS base URL (default: the vendor's)")
    archive = integ.add_parser("archive", help="disable an integration and keep its data")
    archive.add_argument("integration", help="id or name")
    unarchive = integ.add_parser("unarchive", help="unarchive an integration (stays disabled)")
    unarchive.add_argument("integration", help="id or name")
    props = integ.add_parser("properties", help="list an integration's properties and settings")
    props.add_argument("integration", help="id or name")
    props.add_argument("--json", action="store_true", help="JSON output")
    prop = integ.add_parser("property", help="enable or disable one property's data")
    prop.add_argument("integration", help="id or name")
    prop.add_argument("x_property_id", help="the property's id in the PMS")
    state = prop.add_mutually_exclusive_group(required=True)
    state.add_argument("--enable", dest="enabled", action="store_true", default=None)
    state.add_argument("--disable", dest="enabled", action="store_false")
    # -- data-access check (syncd.cli.checks) --
    add_check_parser(integ)


_Action = Callable[[argparse.Namespace, SqlStore, Settings], Awaitable[int]]


async def cmd_integrations(args: argparse.Namespace, settings: Settings) -> int:
    """Run one ``integrations`` subcommand."""
    action: _Action = _ACTIONS[args.integrations_command]
    async with open_store(settings) as store:
        return await action(args, store, settings)


async def _add(args: argparse.Namespace, store: SqlStore, settings: Settings) -> int:
    options: dict[str, Any] = {}
    if args.rate_limit is not None:
        options["rate_limit_per_second"] = args.rate_limit
    if args.page_size is not None:
        options["page_size"] = args.page_size
    request = NewIntegration(
        vendor=args.vendor,
        name=args.name,
        id=args.integration_id,
        environment=Environment(args.environment),
        credentials=parse_credentials(args.credential),
        base_url=args.base_url,
        options=options,
        enabled=bool(args.enable),
    )
    try:
        integration = await add_integration(store, request)
    except ConfigError as exc:
        raise option_error(exc, _ADD_OPTIONS) from None
    print(
        f"added integration {integration.id} ({integration.vendor}, "
        f"{integration.environment.value}, {'enabled' if integration.enabled else 'disabled'})"
    )
    return EXIT_OK


async def _list(args: argparse.Namespace, store: SqlStore, settings: Settings) -> int:
    statuses = await list_integrations(store)
    if args.json:
        print_json([integration_json(s.integration) for s in statuses])
        return EXIT_OK
    listing = table("integrations", "id", "name", "vendor", "environment", "enabled", "last run")
    for s in statuses:
        i, last = s.integration, s.last_run
        listing.add_row(
            i.id,
            i.name,
            i.vendor,
            i.environment.value,
            "yes" if i.enabled else "no",
            f"{last.status.value} {last.started_at:%Y-%m-%d %H:%M}" if last else "-",
        )
    console().print(listing)
    return EXIT_OK


async def _show(args: argparse.Namespace, store: SqlStore, settings: Settings) -> int:
    status = await show_integration(store, args.integration)
    data = integration_json(status.integration)
    data["last_run"] = run_json(status.last_run) if status.last_run else None
    if args.json:
        print_json(data)
    else:
        for key, value in data.items():
            print(f"{key}: {value}")
    return EXIT_OK


async def _set_enabled(args: argparse.Namespace, store: SqlStore, settings: Settings) -> int:
    action = args.integrations_command
    integration = await set_integration_enabled(
        store, settings, args.integration, action == "enable"
    )
    print(f"{integration.id}: {action}d")
    return EXIT_OK


async def _set_schedules_state(
    args: argparse.Namespace, store: SqlStore, settings: Settings
) -> int:
    action = args.integrations_command
    state = ScheduleState.PAUSED if action == "pause" else ScheduleState.ACTIVE
    change = await set_schedules_state(store, args.integration, state, job=args.job)
    what = f"job {args.job}" if args.job else "all jobs"
    print(f"{change.integration_id}: {what} {action}d ({change.changed} schedule(s))")
    return EXIT_OK


async def _config(args: argparse.Namespace, store: SqlStore, settings: Settings) -> int:
    changes: list[tuple[str, str]] = []
    for pair in args.settings:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--set {pair!r}: expected KEY=VALUE")
        changes.append((key.strip(), value))
    document = SettingsDocument(load_file(args.file), str(args.file)) if args.file else None
    config = await configure_integration(
        store, settings, args.integration, document=document, changes=changes
    )
    if args.json:
        print_json(config_json(config))
        return EXIT_OK
    shown = table(f"configuration of {config.integration_id}", "key", "value", "source")
    for r in config.settings:
        shown.add_row(r.key, json.dumps(r.value), r.source)
    console().print(shown)
    return EXIT_OK


async def _remove(args: argparse.Namespace, store: SqlStore, settings: Settings) -> int:
    integration = await find_integration(store, args.integration)
    if not args.yes:
        _confirm_removal(integration)
    removal = await remove_integration(store, integration.id)
    if args.json:
        print_json({"integration_id": removal.integration_id, "removed": dict(removal.removed)})
        return EXIT_OK
    n = removal.removed
    print(
        f"removed integration {integration.id}: {removal.records} cached records, "
        f"{n.get('sync_runs', 0)} job log rows, {n.get('schedules', 0)} schedules, "
        f"{n.get('checkpoints', 0)} checkpoints, {n.get('quarantine', 0)} quarantined records"
    )
    print("change events already in the outbox stay until the retention prune")
    return EXIT_OK


def _confirm_removal(integration: Integration) -> None:
    """Ask the operator to type the integration's id; without a terminal, ask for --yes."""
    if not sys.stdin.isatty():
        raise UsageError(
            f"removing integration {integration.id} deletes its data: "
            "pass --yes to confirm (there is no terminal to ask on)"
        )
    sys.stderr.write(
        f"This deletes integration {integration.id} ({integration.name}, {integration.vendor}): "
        "its credentials, schedules, checkpoints, cached records, quarantine and job log.\n"
        f"Type its id ({integration.id}) to confirm: "
    )
    sys.stderr.flush()
    # Read in the event loop's thread: nothing else runs meanwhile, and a
    # Ctrl-C interrupts the read at once.
    answer = sys.stdin.readline()
    if answer.strip() != integration.id:
        raise Aborted(f"not confirmed: integration {integration.id} was not removed")


async def _clone(args: argparse.Namespace, store: SqlStore, settings: Settings) -> int:
    try:
        integration = await clone_integration(
            store,
            settings,
            args.source,
            name=args.name,
            credentials=parse_credentials(args.credential),
            integration_id=args.integration_id,
            base_url=args.base_url,
        )
    except ConfigError as exc:
        raise option_error(exc, _ADD_OPTIONS) from None
    print(
        f"added integration {integration.id} ({integration.vendor}, "
        f"{integration.environment.value}, disabled), configured like {args.source}"
    )
    return EXIT_OK


async def _set_archived(args: argparse.Namespace, store: SqlStore, settings: Settings) -> int:
    action = args.integrations_command
    integration = await set_archived(store, settings, args.integration, action == "archive")
    print(f"{integration.id}: {action}d ({'enabled' if integration.enabled else 'disabled'})")
    return EXIT_OK


def _property_json(s: PropertySetting) -> dict[str, Any]:
    return {
        "id": str(s.id),
        "x_property_id": s.x_property_id,
        "name": s.name,
        "enabled": s.enabled,
        "created_at": s.created_at.isoformat(),
    }


async def _properties(args: argparse.Namespace, store: SqlStore, settings: Settings) -> int:
    found = await find_integration(store, args.integration)
    shown: list[PropertySetting] = []
    while True:
        page = await list_property_settings(
            store, found.id, (("x_property_id", False),), offset=len(shown), limit=250
        )
        shown.extend(page.settings)
        if not page.settings or len(shown) >= page.total:
            break
    if args.json:
        print_json([_property_json(s) for s in shown])
        return EXIT_OK
    listing = table(f"properties of {found.id}", "x_property_id", "name", "enabled", "id")
    for s in shown:
        listing.add_row(s.x_property_id, s.name or "-", "yes" if s.enabled else "no", str(s.id))
    console().print(listing)
    return EXIT_OK


async def _property(args: argparse.Namespace, store: SqlStore, settings: Settings) -> int:
    try:
        setting = await set_property_enabled(
            store, settings, args.integration, args.enabled, x_property_id=args.x_property_id
        )
    except PropertyNotFound as exc:
        raise UsageError(str(exc)) from None
    state = "enabled" if setting.enabled else "disabled"
    print(f"{setting.integration_id}: property {setting.x_property_id} {state}")
    return EXIT_OK


_ACTIONS: dict[str, _Action] = {
    "add": _add,
    "list": _list,
    "show": _show,
    "enable": _set_enabled,
    "disable": _set_enabled,
    "pause": _set_schedules_state,
    "resume": _set_schedules_state,
    "config": _config,
    "remove": _remove,
    "clone": _clone,
    "archive": _set_archived,
    "unarchive": _set_archived,
    "properties": _properties,
    "property": _property,
    "sync": queue_sync,
    # -- data-access check (syncd.cli.checks) --
    "check": check_integration,
}
