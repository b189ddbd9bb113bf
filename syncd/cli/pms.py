"""``syncd pms list|show``: the capability matrix in the terminal."""

from __future__ import annotations

import argparse

from rich.console import Console

from syncd.cli.common import EXIT_OK, Subparsers
from syncd.cli.output import console, print_json
from syncd.progress import table
from syncd.services.pms import PmsProfile, pms_profile, pms_profiles, profile_json
from syncd.settings import Settings


def add_parsers(sub: Subparsers) -> None:
    """Register ``syncd pms list`` and ``syncd pms show VENDOR``."""
    pms = sub.add_parser("pms", help="what each PMS can do").add_subparsers(
        dest="pms_command", required=True
    )
    listing = pms.add_parser("list", help="every PMS: models, rate limit, credentials")
    listing.add_argument("--json", action="store_true", help="machine-readable output")
    show = pms.add_parser("show", help="one PMS in detail: per model read/create/update")
    show.add_argument("vendor", help="e.g. buildium, rentmanager, resman, propertyware")
    show.add_argument("--json", action="store_true", help="machine-readable output")


def _mark(flag: bool) -> str:
    return "yes" if flag else "-"


async def cmd_pms(args: argparse.Namespace, settings: Settings) -> int:
    """Print the capability matrix (``list``) or one PMS's profile (``show``)."""
    out = console()
    if args.pms_command == "list":
        profiles = pms_profiles()
        if args.json:
            print_json([profile_json(p) for p in profiles])
            return EXIT_OK
        listing = table(
            None, "vendor", "name", "read", "write", "rate limit", "incremental", "credentials"
        )
        for p in profiles:
            listing.add_row(
                p.vendor.lower(),
                p.display_name,
                ", ".join(m.model for m in p.models if m.read),
                ", ".join(m.model for m in p.models if m.create or m.update) or "-",
                p.rate_limit or "not documented",
                ", ".join(p.incremental_models) or "-",
                ", ".join(p.credential_keys),
            )
        out.print(listing)
        return EXIT_OK
    profile = pms_profile(args.vendor)
    if args.json:
        print_json(profile_json(profile))
        return EXIT_OK
    _show(out, profile)
    return EXIT_OK


def _show(out: Console, p: PmsProfile) -> None:
    optional = (
        f" (optional: {', '.join(p.optional_credential_keys)})"
        if p.optional_credential_keys
        else ""
    )
    out.print(f"{p.display_name} ({p.vendor.lower()})")
    out.print(f"credentials: {', '.join(p.credential_keys)}{optional}")
    limit = p.rate_limit or "not documented"
    source = f" — {p.rate_limit_source}" if p.rate_limit_source else ""
    out.print(f"rate limit: {limit}{source}")
    if p.job_rate_limit is not None:
        out.print(f"syncd's default pace: {p.job_rate_limit:g} requests/s")
    for name, help_text in p.option_keys:
        out.print(f"option connector.{name}: {help_text}")
    models = table(None, "model", "read", "create", "update", "date filters", "job filter")
    for m in p.models:
        models.add_row(
            m.model,
            _mark(m.read),
            _mark(m.create),
            _mark(m.update),
            ", ".join(m.date_fields) or "none",
            m.job_date_filter or "-",
        )
    out.print(models)
    for m in p.models:
        if m.create_fields:
            out.print(f"{m.model} create fields: {', '.join(m.create_fields)}")
        if m.create_required:
            out.print(f"{m.model} create requires: {', '.join(m.create_required)}")
        if m.update_fields:
            out.print(f"{m.model} update fields: {', '.join(m.update_fields)}")
        for topic, note in m.write_limits:
            out.print(f"{m.model} write limit ({topic}): {note}")
