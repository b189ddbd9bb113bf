"""``docs/pms.md``: the capability matrix, generated from the connectors' declarations."""

from __future__ import annotations

from syncd.services.pms import PmsProfile, pms_profiles


def _yes(flag: bool) -> str:
    return "yes" if flag else "—"


def _summary(profiles: list[PmsProfile]) -> list[str]:
    lines = [
        "| PMS | vendor code | rate limit | incremental models | credentials |",
        "|---|---|---|---|---|",
    ]
    for p in profiles:
        creds = ", ".join(f"`{k}`" for k in p.credential_keys)
        if p.optional_credential_keys:
            creds += " (optional: " + ", ".join(f"`{k}`" for k in p.optional_credential_keys) + ")"
        incremental = ", ".join(p.incremental_models) or "none"
        lines.append(
            f"| {p.display_name} | `{p.vendor.lower()}` | {p.rate_limit or 'not documented'} "
            f"| {incremental} | {creds} |"
        )
    return lines


def _detail(p: PmsProfile) -> list[str]:
    lines = [f"## {p.display_name} (`{p.vendor.lower()}`)", ""]
    if p.rate_limit_source:
        lines += [f"Rate limit: {p.rate_limit} — {p.rate_limit_source}.", ""]
    if p.job_rate_limit is not None:
        lines += [f"syncd's default pace: {p.job_rate_limit:g} requests/s.", ""]
    for name, help_text in p.option_keys:
        lines += [f"- option `connector.{name}`: {help_text}"]
    if p.option_keys:
        lines.append("")
    lines += [
        "| model | read | create | update | date filters | default job filter |",
        "|---|---|---|---|---|---|",
    ]
    for m in p.models:
        lines.append(
            f"| {m.model} | {_yes(m.read)} | {_yes(m.create)} | {_yes(m.update)} "
            f"| {', '.join(m.date_fields) or 'none'} | {m.job_date_filter or '—'} |"
        )
    writes = [(m.model, "create", m.create_fields) for m in p.models if m.create_fields]
    writes += [(m.model, "update", m.update_fields) for m in p.models if m.update_fields]
    if writes:
        lines.append("")
        for model, op, fields in writes:
            lines.append(f"- {model} {op} accepts: " + ", ".join(f"`{f}`" for f in fields))
        for m in p.models:
            if m.create_required:
                required = ", ".join(f"`{f}`" for f in m.create_required)
                lines.append(f"- {m.model} create requires: {required}")
        limits = [(m.model, t, n) for m in p.models for t, n in m.write_limits]
        if limits:
            lines += ["", "Write limits, and how syncd copes:", ""]
            lines += [f"- {model} — {topic}: {note}" for model, topic, note in limits]
    lines.append("")
    return lines


def pms_markdown() -> str:
    """The whole of ``docs/pms.md``."""
    profiles = pms_profiles()
    lines = [
        "# PMS capabilities",
        "",
        "Generated from the connectors (`python scripts/gen_docs.py`); a test fails when it",
        "is out of date. `syncd pms list` and `syncd pms show VENDOR` print the same.",
        "",
        *_summary(profiles),
        "",
    ]
    for p in profiles:
        lines += _detail(p)
    return "\n".join(lines).rstrip() + "\n"
