"""``syncd normalization show|set|clear``: the enum maps that normalize a field's raw values.

The same operations as ``/v1/admin/normalization/{model}/{field}`` and
``/v1/admin/integrations/{id}/normalization/{model}/{field}``
(:mod:`syncd.services.normalization`).
"""

from __future__ import annotations

import argparse
from collections.abc import Awaitable, Callable

from syncd.app import open_store
from syncd.cli.common import EXIT_OK, Subparsers, UsageError
from syncd.cli.output import console, print_json
from syncd.connectors.registry import known_vendors
from syncd.progress import table
from syncd.services.normalization import (
    NormalizationMap,
    clear_custom_map,
    map_json,
    normalization_map,
    set_custom_map,
)
from syncd.settings import Settings
from syncd.store.sql import SqlStore


def add_parsers(sub: Subparsers) -> None:
    """Add the ``normalization`` subcommands to the main parser."""
    norm = sub.add_parser(
        "normalization", help="enum maps: how raw PMS values become normalized values"
    ).add_subparsers(dest="normalization_command", required=True)
    show = norm.add_parser("show", help="show a field's map (a vendor's, or an integration's)")
    show.add_argument("model", help="e.g. leases")
    show.add_argument("field", help="e.g. status")
    show.add_argument("--integration", help="id or name: its custom entries on top of the defaults")
    show.add_argument("--vendor", help=f"the vendor's defaults ({', '.join(known_vendors())})")
    show.add_argument("--json", action="store_true", help="JSON output")
    put = norm.add_parser(
        "set", help="replace an integration's custom map of a field (applied by the next sync)"
    )
    put.add_argument("integration", help="id or name")
    put.add_argument("model", help="e.g. leases")
    put.add_argument("field", help="e.g. status")
    put.add_argument("entries", nargs="+", metavar="RAW=NORMALIZED", help="e.g. Notice=ACTIVE")
    put.add_argument("--json", action="store_true", help="JSON output")
    clear = norm.add_parser("clear", help="drop an integration's custom map of a field")
    clear.add_argument("integration", help="id or name")
    clear.add_argument("model", help="e.g. leases")
    clear.add_argument("field", help="e.g. status")
    clear.add_argument("--json", action="store_true", help="JSON output")


_Action = Callable[[argparse.Namespace, SqlStore, Settings], Awaitable[NormalizationMap]]


async def cmd_normalization(args: argparse.Namespace, settings: Settings) -> int:
    """Run one ``normalization`` subcommand and print the resulting map."""
    action: _Action = _ACTIONS[args.normalization_command]
    async with open_store(settings) as store:
        found = await action(args, store, settings)
    if args.json:
        print_json(map_json(found))
        return EXIT_OK
    whose = f"integration {found.integration_id}" if found.integration_id else found.vendor
    title = f"{found.model}.{found.field} ({found.enum_map}) of {whose}"
    shown = table(title, "raw", "normalized", "source")
    for raw, normalized in found.mappings.items():
        shown.add_row(raw, normalized, found.sources[raw])
    console().print(shown)
    print(f"unmapped values: {found.default_value}")
    if found.allowed is not None:
        print(f"allowed values: {', '.join(found.allowed)}")
    if len(found.fields) > 1:
        print(f"the same map serves: {', '.join(found.fields)}")
    return EXIT_OK


async def _show(args: argparse.Namespace, store: SqlStore, settings: Settings) -> NormalizationMap:
    if args.integration is None and args.vendor is None:
        raise UsageError("give --integration ID or --vendor VENDOR")
    return await normalization_map(
        store, settings, args.model, args.field, vendor=args.vendor, integration=args.integration
    )


def _entries(pairs: list[str]) -> dict[str, str]:
    entries: dict[str, str] = {}
    for pair in pairs:
        raw, sep, normalized = pair.rpartition("=")
        if not sep or not raw:
            raise UsageError(f"{pair!r}: expected RAW=NORMALIZED")
        if raw in entries:
            raise UsageError(f"{raw!r}: given twice")
        entries[raw] = normalized
    return entries


async def _set(args: argparse.Namespace, store: SqlStore, settings: Settings) -> NormalizationMap:
    entries = _entries(args.entries)
    return await set_custom_map(store, settings, args.integration, args.model, args.field, entries)


async def _clear(args: argparse.Namespace, store: SqlStore, settings: Settings) -> NormalizationMap:
    return await clear_custom_map(store, settings, args.integration, args.model, args.field)


_ACTIONS: dict[str, _Action] = {"show": _show, "set": _set, "clear": _clear}
