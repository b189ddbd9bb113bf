"""The integrations pages over real HTTP on both engines, against an in-process simulator.

The browser tests show the flows in Chromium; these pin what a page says
and stores: the fields each PMS's form asks for, each refusal naming its
field and storing nothing, what each ⋯ action does, the live fragments.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import replace

import pytest
from api.conftest import Api
from support import sim_integration, started_sim

from syncd.domain import Environment
from syncd.runner import Runner
from syncd.services.syncs import pending_request
from syncd.sim.buildium import BuildiumSimulator

from .helpers import Browser, wait_until

NEW = "/dashboard/integrations/new"
MODELS = ("properties", "units", "residents", "leases", "leads", "employees")


@pytest.fixture
async def sim() -> AsyncIterator[BuildiumSimulator]:
    async with started_sim(seed=5, scale=12) as simulator:
        yield simulator


@pytest.fixture
async def signed_in(api: Api, browser: Browser) -> Browser:
    await browser.sign_in(api.admin_key)
    return browser


def labels(html: str) -> list[str]:
    """The labels of the credential fieldset, in order."""
    fieldset = html.split("<fieldset>", 1)[1].split("</fieldset>", 1)[0]
    return [
        re.sub(r"<[^>]+>", "", m).strip()
        for m in re.findall(r"<label[^>]*>(.*?)</label>", fieldset, re.S)
    ]


@pytest.mark.parametrize(
    ("vendor", "expected"),
    [
        ("buildium", ["Client ID", "Client secret"]),
        ("rentmanager", ["Username", "Password", "Location ID", "Company code (optional)"]),
        ("resman", ["Integration partner ID", "API key", "Account ID"]),
        ("propertyware", ["Client ID", "Client secret", "System ID"]),
    ],
)
async def test_each_pms_form_asks_for_exactly_its_credentials(
    signed_in: Browser, vendor: str, expected: list[str]
) -> None:
    page = await signed_in.get(f"{NEW}?vendor={vendor}&environment=sandbox")
    assert page.status == 200
    assert labels(page.html) == expected
    # Secrets are password inputs; every input has a label or a description.
    for key in ("client_secret", "password", "api_key"):
        if f'id="credential_{key}"' in page.html:
            assert re.search(
                rf'id="credential_{key}" name="credential_{key}" type="password"', page.html
            )
    assert "A <strong>sandbox</strong>" in page.html


async def test_a_wrong_form_is_shown_again_naming_each_field_and_nothing_is_stored(
    api: Api, signed_in: Browser
) -> None:
    await signed_in.get(f"{NEW}?vendor=buildium&environment=sandbox")
    form = {"vendor": "buildium", "environment": "sandbox", "name": "",
            "credential_client_id": "id-1", "credential_client_secret": ""}  # fmt: skip
    page = await signed_in.post(NEW, form)
    assert page.status == 400
    assert 'id="name_error"' in page.html and "Enter the customer&#39;s name." in page.html
    assert 'id="credential_client_secret_error"' in page.html
    assert 'value="id-1"' in page.html  # not a secret: kept for the next try
    assert await api.store.list_integrations() == []

    bad_url = {**form, "name": "Acme", "credential_client_secret": "s3cret-value",
               "base_url": "ftp://example.test"}  # fmt: skip
    page = await signed_in.post(NEW, bad_url)
    assert page.status == 400 and 'id="base_url_error"' in page.html
    assert "s3cret-value" not in page.html  # a secret is never shown again
    assert await api.store.list_integrations() == []

    taken = {**form, "name": "Acme", "credential_client_secret": "x"}
    assert (await signed_in.post(NEW, taken)).status == 200
    again = await signed_in.post(NEW, taken)
    assert (
        again.status == 400 and 'id="name_error"' in again.html and "already exists" in again.html
    )
    assert len(await api.store.list_integrations()) == 1


async def test_a_new_customer_is_checked_on_arrival_and_the_section_updates(
    api: Api, signed_in: Browser, sim: BuildiumSimulator
) -> None:
    await signed_in.get(f"{NEW}?vendor=buildium&environment=sandbox")
    form = {
        "vendor": "buildium",
        "environment": "sandbox",
        "name": "Acme Homes",
        "credential_client_id": sim.credentials["client_id"],
        "credential_client_secret": sim.credentials["client_secret"],
        "base_url": sim.url,
    }
    page = await signed_in.post(NEW, form)
    assert page.status == 200 and page.url.endswith("/dashboard/integrations/acme-homes")
    assert "Acme Homes was added: checking its data access" in page.html
    assert sim.credentials["client_secret"] not in page.html
    stored = await api.store.get_integration("acme-homes")
    assert stored.environment is Environment.SANDBOX and not stored.enabled
    assert stored.credentials == sim.credentials and stored.base_url == sim.url

    async def finished() -> str | None:
        fragment = await signed_in.get("/dashboard/integrations/acme-homes/data-access?fragment=1")
        assert fragment.status == 200 and fragment.html.startswith('<section id="data-access"')
        return fragment.html if 'data-live="false"' in fragment.html else None

    html = await wait_until(finished, what="the data-access check")
    for model in MODELS:
        row = html.split(f'data-model="{model}"', 1)[1].split("</tr>", 1)[0]
        read = row.split('data-operation="read"', 1)[1].split("</td>", 1)[0]
        assert "SUCCESS" in read, (model, row)
    # The flash message was shown once.
    assert "was added" not in (await signed_in.get("/dashboard/integrations/acme-homes")).html


async def test_menu_actions_enable_sync_back_sync_and_disable(api: Api, signed_in: Browser) -> None:
    await api.store.add_integration(
        replace(sim_integration(), enabled=False, environment=Environment.SANDBOX)
    )
    page = await signed_in.get("/dashboard/integrations/acme")
    assert ">Enable</button>" in page.html and "Run sync now</button>" in page.html
    refused = await signed_in.post("/dashboard/integrations/acme/sync")
    assert "is disabled: enable it first" in refused.html
    assert await pending_request(api.store, "acme") is None

    enabled = await signed_in.post("/dashboard/integrations/acme/enable")
    assert "its first sync starts now" in enabled.html and ">Disable</button>" in enabled.html
    assert (await api.store.get_integration("acme")).enabled
    first = await pending_request(api.store, "acme")
    assert first is not None and not first.back_sync
    # The jobs section is live while the sync waits to start.
    assert 'id="jobs"' in enabled.html
    jobs = enabled.html.split('<section id="jobs"', 1)[1].split(">", 1)[0]
    assert 'data-live="true"' in jobs
    again = await signed_in.post("/dashboard/integrations/acme/back-sync")
    assert "already pending" in again.html

    disabled = await signed_in.post("/dashboard/integrations/acme/disable")
    assert "is disabled" in disabled.html and not (await api.store.get_integration("acme")).enabled


async def test_last_ran_jobs_properties_and_the_job_tree_after_a_sync(
    api: Api, signed_in: Browser, sim: BuildiumSimulator
) -> None:
    integration = sim_integration(sim)
    await api.store.add_integration(integration)
    report = await Runner(api.store).run(integration)
    assert report.ok, report.error

    page = await signed_in.get("/dashboard/integrations/acme")
    jobs = page.html.split('<section id="jobs"', 1)[1].split("</section>", 1)[0]
    assert 'data-live="false"' in jobs
    for model in MODELS:
        assert f'data-model="{model}" data-status="SUCCESS"' in jobs
    assert f'href="/dashboard/runs/{report.root_run_id}"' in jobs
    properties = await api.store.count_records("acme", "properties")
    assert page.html.count('role="switch" aria-checked="true"') == properties > 0

    tree = await signed_in.get(f"/dashboard/runs/{report.root_run_id}")
    assert tree.status == 200 and tree.html.count('<li id="run-') == len(MODELS)
    # The tree and the jobs refresh themselves only while a sync runs.
    live_tree = await signed_in.get(f"/dashboard/runs/{report.root_run_id}?fragment=1")
    assert (
        live_tree.html.startswith('<section id="run-tree"')
        and 'data-live="false"' in live_tree.html
    )
    jobs_fragment = await signed_in.get("/dashboard/integrations/acme/jobs?fragment=1")
    assert jobs_fragment.html.startswith('<section id="jobs"')
    assert 'data-state="enabled"' in jobs_fragment.html and "<html" not in jobs_fragment.html
    assert (await signed_in.get("/dashboard/runs/no-such-run")).status in (400, 404)

    listed = await signed_in.get("/dashboard/integrations/acme/properties?fragment=1")
    assert listed.html.startswith('<section id="properties"')
    assert listed.html.count('role="switch"') == properties
    # A property switched off is kept and no longer synced; switched on again, it syncs.
    first = re.search(r'action="/dashboard/integrations/acme/properties/([0-9a-f-]+)"', page.html)
    assert first
    off = await signed_in.post(
        f"/dashboard/integrations/acme/properties/{first.group(1)}", {"enabled": "false"}
    )
    assert "is disabled: its cached data is kept" in off.html
    options = (await api.store.get_integration("acme")).options
    assert [v["enabled"] for v in options["properties"].values()] == [False]
    on = await signed_in.post(
        f"/dashboard/integrations/acme/properties/{first.group(1)}", {"enabled": "true"}
    )
    assert "is enabled" in on.html
    missing = await signed_in.post(
        "/dashboard/integrations/acme/properties/00000000-0000-0000-0000-000000000000",
        {"enabled": "false"},
    )
    assert "has no property" in missing.html


async def test_a_held_sweep_is_approved_or_dismissed_from_the_page(
    api: Api, signed_in: Browser, sim: BuildiumSimulator
) -> None:
    integration = sim_integration(sim)
    await api.store.add_integration(integration)
    runner = Runner(api.store)
    assert (await runner.run(integration, models=["units"], full=True)).ok
    sim.mutate("units", delete=6)
    held = await runner.run(integration, models=["units"], full=True)
    (outcome,) = held.outcomes
    page = await signed_in.get("/dashboard/integrations/acme")
    assert f'action="/dashboard/sweeps/{outcome.run_id}/approve"' in page.html
    # The section alone, as the page's script fetches it once a sync ends.
    section = await signed_in.get("/dashboard/integrations/acme/sweeps?fragment=1")
    assert section.html.startswith('<section id="sweeps"') and "<html" not in section.html
    assert f'action="/dashboard/sweeps/{outcome.run_id}/approve"' in section.html
    approved = await signed_in.post(f"/dashboard/sweeps/{outcome.run_id}/approve")
    assert "The units sweep was approved: 6 records deleted" in approved.html
    assert "No sweep is held." in approved.html
    assert await api.store.count_records("acme", "units") == 12 - 6
    twice = await signed_in.post(f"/dashboard/sweeps/{outcome.run_id}/approve")
    assert "notice-error" in twice.html

    sim.mutate("units", delete=3)
    held = await runner.run(integration, models=["units"], full=True)
    (outcome,) = held.outcomes
    dismissed = await signed_in.post(f"/dashboard/sweeps/{outcome.run_id}/dismiss")
    assert "The units sweep was dismissed: nothing was deleted" in dismissed.html
    assert await api.store.count_records("acme", "units") == 6


async def test_the_tabs_list_each_pms_and_environment_with_state(
    api: Api, signed_in: Browser
) -> None:
    base = sim_integration()
    await api.store.add_integration(replace(base, id="p1", name="Prod One"))
    await api.store.add_integration(
        replace(base, id="s1", name="Sandbox One", environment=Environment.SANDBOX, enabled=False)
    )
    prod = await signed_in.get("/dashboard/integrations?vendor=buildium&environment=production")
    assert "Prod One" in prod.html and "Sandbox One" not in prod.html
    assert "state-enabled" in prod.html
    sandbox = await signed_in.get("/dashboard/integrations?vendor=buildium&environment=sandbox")
    assert "Sandbox One" in sandbox.html and "Prod One" not in sandbox.html
    assert "state-disabled" in sandbox.html
    rows = await signed_in.get(
        "/dashboard/integrations?vendor=buildium&environment=production&fragment=1"
    )
    assert rows.html.startswith('<section id="integration-list"') and "Prod One" in rows.html
    other = await signed_in.get("/dashboard/integrations?vendor=resman&environment=production")
    assert "No ResMan production customers yet." in other.html
    for name in ("Buildium", "Rent Manager", "ResMan", "Propertyware"):
        assert f">{name}</a>" in prod.html
    assert (await signed_in.get("/dashboard/integrations/nope")).status == 404


async def test_clone_keeps_vendor_and_environment_and_copies_the_configuration(
    api: Api, signed_in: Browser
) -> None:
    options = {
        "schedules": {"incremental": {"type": "interval", "seconds": 900}},
        "enum_maps": {"lease_status": {"Pending": "INACTIVE"}},
        "page_size": 50,
        "properties": {"7": {"enabled": False}},
    }
    await api.store.add_integration(
        replace(sim_integration(), environment=Environment.SANDBOX, options=options)
    )
    form = await signed_in.get("/dashboard/integrations/acme/clone")
    assert "same PMS and environment" in form.html and "Copied from Acme" in form.html
    assert labels(form.html) == ["Client ID", "Client secret"]
    made = await signed_in.post(
        "/dashboard/integrations/acme/clone",
        {"name": "Birch", "credential_client_id": "b-id", "credential_client_secret": "b-secret",
         # Tampering with the hidden fields cannot change the vendor or environment.
         "vendor": "resman", "environment": "production"},
    )  # fmt: skip
    assert made.url.endswith("/dashboard/integrations/birch")
    clone = await api.store.get_integration("birch")
    assert clone.vendor == "BUILDIUM" and clone.environment is Environment.SANDBOX
    assert clone.credentials == {"client_id": "b-id", "client_secret": "b-secret"}
    assert clone.options["schedules"] == options["schedules"]
    assert clone.options["enum_maps"] == options["enum_maps"] and clone.options["page_size"] == 50
    assert "properties" not in clone.options and not clone.enabled


async def test_an_integration_added_elsewhere_is_checked_when_its_page_is_opened(
    api: Api, signed_in: Browser, sim: BuildiumSimulator
) -> None:
    await api.store.add_integration(replace(sim_integration(sim), enabled=False))
    page = await signed_in.get("/dashboard/integrations/acme")
    section = page.html.split('<section id="data-access"', 1)[1].split("</section>", 1)[0]
    assert "Checking each model" in section or "Last checked" in section

    async def finished() -> str | None:
        fragment = await signed_in.get("/dashboard/integrations/acme/data-access?fragment=1")
        return fragment.html if 'data-live="false"' in fragment.html else None

    html = await wait_until(finished, what="the data-access check")
    assert html.count(">SUCCESS<") == len(MODELS)
    # Checked once: a later visit shows the result and starts nothing.
    again = await signed_in.get("/dashboard/integrations/acme")
    assert 'data-live="false"' in again.html.split('<section id="data-access"', 1)[1][:400]
