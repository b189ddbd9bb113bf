"""``syncd db upgrade|current``: the cache database's schema."""

from __future__ import annotations

import argparse

from syncd.cli.common import EXIT_OK, Subparsers
from syncd.services.database import database_revision, upgrade_database
from syncd.settings import Settings


def add_parsers(sub: Subparsers) -> None:
    """Add the ``db`` subcommands to the main parser."""
    db = sub.add_parser("db", help="database schema").add_subparsers(
        dest="db_command", required=True
    )
    db.add_parser("upgrade", help="migrate the database to the newest schema")
    db.add_parser("current", help="show the schema revision")


async def cmd_db(args: argparse.Namespace, settings: Settings) -> int:
    """Migrate the database (``upgrade``) or print its revision (``current``)."""
    if args.db_command == "upgrade":
        print(f"database at revision {await upgrade_database(settings)}")
    else:
        print(await database_revision(settings) or "none")
    return EXIT_OK
