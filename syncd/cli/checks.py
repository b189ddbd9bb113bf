"""``syncd integrations check ID``: a data-access check run in the foreground.

The same check as ``POST /v1/admin/integrations/{id}/data-access``
(:mod:`syncd.services.data_access`), waited for and printed per model.
Exit 0 when every model's read succeeded, 1 otherwise (or when a check of
the integration is already running elsewhere).
"""

from __future__ import annotations

import argparse

from syncd.cli.common import EXIT_FAILED, EXIT_OK, Subparsers
from syncd.cli.output import console, print_json
from syncd.progress import table
from syncd.services.data_access import OPERATIONS, check_data_access, report_json
from syncd.settings import Settings
from syncd.store.sql import SqlStore


def add_check_parser(integrations: Subparsers) -> None:
    """Add ``check`` to the ``integrations`` subcommands."""
    check = integrations.add_parser(
        "check",
        help="check data access: read the first page of every model (exit 1 if a read fails)",
    )
    check.add_argument("integration", help="id or name")
    check.add_argument("--json", action="store_true", help="JSON output")


async def check_integration(args: argparse.Namespace, store: SqlStore, settings: Settings) -> int:
    """Run the check and print its results."""
    report = await check_data_access(store, settings, args.integration)
    if args.json:
        print_json(report_json(report))
    else:
        shown = table(
            f"data access of {report.integration_id}",
            "model",
            *(o.value for o in OPERATIONS),
            "error",
        )
        for m in report.models:
            errors = [m.of(o).error_message for o in OPERATIONS if m.of(o).error_message]
            shown.add_row(
                m.model,
                *(m.of(o).status.value for o in OPERATIONS),
                "; ".join(e or "" for e in errors),
            )
        console().print(shown)
    return EXIT_OK if report.all_readable else EXIT_FAILED
