"""The dashboard's pure parts: credential labels, template filters, tokens, redirects."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from syncd.connectors.registry import get_connector_class, known_vendors
from syncd.dashboard.app import local_path
from syncd.dashboard.integrations import is_secret
from syncd.dashboard.render import duration, environment, status_badge, time_tag
from syncd.dashboard.session import csrf_token_for
from syncd.domain import RunCounts, RunRecord, RunStatus
from syncd.services.pms import pms_profile


@pytest.mark.parametrize("vendor", known_vendors())
def test_every_credential_has_a_label_and_help(vendor: str) -> None:
    cls = get_connector_class(vendor)
    keys = (*cls.credential_keys, *cls.optional_credential_keys)
    assert set(cls.credential_labels) == set(keys)
    fields = pms_profile(vendor).credential_fields
    assert [f.key for f in fields] == list(keys)
    assert all(f.label and f.help for f in fields)
    assert [f.required for f in fields] == [k in cls.credential_keys for k in keys]


def test_secret_credentials_are_never_refilled() -> None:
    assert [k for k in ("client_id", "client_secret", "password", "api_key", "account_id",
                        "location_id", "system_id", "username", "company") if is_secret(k)] == [
        "client_secret", "password", "api_key",
    ]  # fmt: skip


def test_times_carry_utc_in_markup_and_on_hover() -> None:
    moment = datetime(2026, 12, 3, 9, 30, 5, tzinfo=timezone(timedelta(hours=-5)))
    html = str(time_tag(moment))
    assert 'datetime="2026-12-03T14:30:05Z"' in html
    assert 'title="2026-12-03 14:30:05 UTC"' in html and "data-local" in html
    assert "never" in str(time_tag(None))


def _run(seconds: float, status: RunStatus = RunStatus.SUCCESS) -> RunRecord:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    return RunRecord(
        id="r", root_run_id=None, parent_run_id=None, integration_id="a", vendor="BUILDIUM",
        model="units", mode="full", trigger="manual", status=status, started_at=start,
        ended_at=start + timedelta(seconds=seconds), counts=RunCounts(), error=None,
    )  # fmt: skip


def test_durations_read_naturally() -> None:
    assert duration(_run(0.25)) == "0.2 s"
    assert duration(_run(42)) == "42 s"
    assert duration(_run(185)) == "3 min 5 s"
    assert duration(_run(3 * 3600 + 60)) == "3 h 1 min"


def test_status_badges_say_what_a_person_reads() -> None:
    assert "Needs attention" in str(status_badge(RunStatus.NEEDS_ATTENTION))
    assert "status-failed" in str(status_badge("FAILED"))


def test_templates_escape_what_they_show() -> None:
    html = environment().from_string("{{ value }}").render(value="<script>x</script>")
    assert html == "&lt;script&gt;x&lt;/script&gt;"


def test_csrf_tokens_belong_to_one_key() -> None:
    assert csrf_token_for("sk_a") == csrf_token_for("sk_a")
    assert csrf_token_for("sk_a") != csrf_token_for("sk_b")
    assert "sk_a" not in csrf_token_for("sk_a")


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("/dashboard/integrations/acme?x=1", "/dashboard/integrations/acme?x=1"),
        ("https://evil.example/dashboard/x", "/home"),
        ("//evil.example/dashboard/x", "/home"),
        ("/v1/admin/integrations", "/home"),
        ("", "/home"),
    ],
)
def test_after_sign_in_only_dashboard_paths(target: str, expected: str) -> None:
    assert local_path(target, "/home") == expected
