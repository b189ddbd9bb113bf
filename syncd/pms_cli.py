"""``syncd pms list|show``: the capability matrix in the terminal."""

from __future__ import annotations

import argparse
import json
import sys

from rich.console import Console

from syncd.progress import table
from syncd.services.pms import PmsProfile, pms_profile, pms_profiles, profile_json
from syncd.settings import Settings


def add_pms_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
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
    console = Console() if Console().is_terminal else Console(width=200)
    if args.pms_command == "list":
        profiles = pms_profiles()
        if args.json:
            sys.stdout.write(json.dumps([profile_json(p) for p in profiles], indent=2) + "\n")
            return 0
        rows = [
            [
                p.vendor.lower(),
                p.display_name,
                ", ".join(m.model for m in p.models if m.read),
                ", ".join(f"{m.model}" for m in p.models if m.create or m.update) or "-",
                p.rate_limit or "not documented",
                ", ".join(p.incremental_models) or "-",
                ", ".join(p.credential_keys),
            ]
            for p in profiles
        ]
        out = table(
            None, "vendor", "name", "read", "write", "rate limit", "incremental", "credentials"
        )
        for row in rows:
            out.add_row(*row)
        console.print(out)
        return 0
    profile = pms_profile(args.vendor)
    if args.json:
        sys.stdout.write(json.dumps(profile_json(profile), indent=2) + "\n")
        return 0
    _show(console, profile)
    return 0


def _show(console: Console, p: PmsProfile) -> None:
    optional = (
        f" (optional: {', '.join(p.optional_credential_keys)})"
        if p.optional_credential_keys
        else ""
    )
    console.print(f"{p.display_name} ({p.vendor.lower()})")
    console.print(f"credentials: {', '.join(p.credential_keys)}{optional}")
    limit = p.rate_limit or "not documented"
    source = f" — {p.rate_limit_source}" if p.rate_limit_source else ""
    console.print(f"rate limit: {limit}{source}")
    if p.job_rate_limit is not None:
        console.print(f"syncd's default pace: {p.job_rate_limit:g} requests/s")
    for name, help_text in p.option_keys:
        console.print(f"option connector.{name}: {help_text}")
    rows = [
        [
            m.model,
            _mark(m.read),
            _mark(m.create),
            _mark(m.update),
            ", ".join(m.date_fields) or "none",
            m.job_date_filter or "-",
        ]
        for m in p.models
    ]
    out = table(None, "model", "read", "create", "update", "date filters", "job filter")
    for row in rows:
        out.add_row(*row)
    console.print(out)
    for m in p.models:
        if m.create_fields:
            console.print(f"{m.model} create fields: {', '.join(m.create_fields)}")
        if m.update_fields:
            console.print(f"{m.model} update fields: {', '.join(m.update_fields)}")
