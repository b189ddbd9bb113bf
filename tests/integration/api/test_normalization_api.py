"""Normalization maps over real HTTP, on both engines: defaults, custom maps and their effect."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import pytest
from support import sim_integration, started_sim

from syncd.runner import Runner
from syncd.sim.buildium import BuildiumSimulator

from .conftest import Api

DEFAULTS = "/v1/admin/normalization/leases/status"
CUSTOM = "/v1/admin/integrations/acme/normalization/leases/status"
#: Buildium's default lease status map.
LEASE_STATUS = {"Active": "ACTIVE", "Past": "INACTIVE", "Future": "PENDING"}


@pytest.fixture
async def sim() -> AsyncIterator[BuildiumSimulator]:
    async with started_sim(seed=11, scale=15) as simulator:
        yield simulator


async def lease_statuses(api: Api) -> Counter[tuple[str, str]]:
    """(status_raw, status_normalized) of every cached lease, counted."""
    page = await api.get("/v1/leases/", limit=250)
    assert not page["meta"]["hasMore"]
    return Counter((r["status_raw"], r["status_normalized"]) for r in page["results"])


async def read(api: Api, path: str, **params: Any) -> dict[str, Any]:
    """The ``results`` of a GET."""
    body = await api.get(path, **params)
    assert set(body) == {"results"}
    return dict(body["results"])


async def sync(api: Api) -> None:
    """A full sync of the leases (and what they depend on) with the stored options."""
    integration = await api.store.get_integration("acme")
    report = await Runner(api.store).run(
        integration, models=["properties", "units", "residents", "leases"], full=True
    )
    assert report.ok, report.error


async def test_the_default_map_of_a_vendor(api: Api) -> None:
    body = await read(api, DEFAULTS, integration_vendor="BUILDIUM")
    assert body["is_custom_mapping"] is False
    assert body["mappings"] == LEASE_STATUS
    assert body["default_value"] == "OTHER"
    assert set(body["sources"].values()) == {"default"}
    assert body["allowed_values"] == ["ACTIVE", "EVICTED", "INACTIVE", "OTHER", "PENDING"]
    assert body["enum_map"] == "lease_status" and body["fields"] == ["leases.status"]
    assert body["integration_id"] is None
    # The column's name works too, and a map shared by several fields lists them.
    same = await read(
        api, "/v1/admin/normalization/leases/status_normalized", integration_vendor="BUILDIUM"
    )
    assert same["mappings"] == LEASE_STATUS
    phones = await read(
        api, "/v1/admin/normalization/residents/phone_1_type", integration_vendor="BUILDIUM"
    )
    assert phones["enum_map"] == "phone_type" and "leads.phone_2_type" in phones["fields"]
    resman = await read(
        api, "/v1/admin/normalization/leases/resident_type_normalized", integration_vendor="RESMAN"
    )
    assert resman["mappings"]["Guarantor"] == "GUARANTOR"


async def test_unknown_models_and_fields_and_fields_without_a_map(api: Api) -> None:
    cases = {
        "/v1/admin/normalization/nothing/status": "unknown model",
        "/v1/admin/normalization/floor_plans/status": "no transform",
        "/v1/admin/normalization/leases/nothing": "has no field",
        "/v1/admin/normalization/leases/start_date": "has no enum map",
    }
    for path, message in cases.items():
        status, body, _ = await api.call("GET", path, params={"integration_vendor": "BUILDIUM"})
        assert status == 404, body
        assert body["error"]["code"] == "not_found" and message in body["error"]["message"]
    status, body, _ = await api.call("GET", DEFAULTS)
    assert status == 400
    assert body["error"]["details"]["issues"][0]["field"] == "integration_vendor"
    status, body, _ = await api.call("GET", DEFAULTS, params={"integration_vendor": "NOPE"})
    assert status == 400
    status, body, _ = await api.call("GET", DEFAULTS, params={"integration_id": "nobody"})
    assert status == 404
    status, _, _ = await api.call(
        "GET", DEFAULTS, key=api.read_key, params={"integration_vendor": "BUILDIUM"}
    )
    assert status == 403


async def test_a_custom_map_is_shown_validated_and_applied_by_the_next_sync(
    api: Api, sim: BuildiumSimulator
) -> None:
    await api.store.add_integration(sim_integration(sim))
    await sync(api)
    before = await lease_statuses(api)
    active = before[("Active", "ACTIVE")]
    assert active > 0

    mine: dict[str, Any] = await read(api, DEFAULTS, integration_id="acme")
    assert mine["is_custom_mapping"] is False and mine["integration_id"] == "acme"

    status, answer, _ = await api.call(
        "PUT", CUSTOM, json={"mappings": {"Active": "EVICTED", "Notice": "ACTIVE"}}
    )
    assert status == 200, answer
    body = answer["result"]
    assert body["is_custom_mapping"] is True
    assert body["mappings"] == LEASE_STATUS | {"Active": "EVICTED", "Notice": "ACTIVE"}
    assert body["sources"] == {
        "Active": "custom",
        "Past": "default",
        "Future": "default",
        "Notice": "custom",
    }
    shown = await read(api, DEFAULTS, integration_id="acme", integration_vendor="BUILDIUM")
    assert shown == body
    # The vendor's defaults are unchanged.
    assert (await read(api, DEFAULTS, integration_vendor="BUILDIUM"))["mappings"] == LEASE_STATUS

    await sync(api)
    after = await lease_statuses(api)
    assert after[("Active", "EVICTED")] == active and after[("Active", "ACTIVE")] == 0

    status, answer, _ = await api.call("DELETE", CUSTOM)
    assert status == 200 and answer["result"]["is_custom_mapping"] is False
    assert answer["result"]["mappings"] == LEASE_STATUS
    await sync(api)
    assert await lease_statuses(api) == before


async def test_invalid_custom_maps_are_refused_naming_the_raw_value(
    api: Api, sim: BuildiumSimulator
) -> None:
    await api.store.add_integration(sim_integration(sim))
    status, body, _ = await api.call(
        "PUT", CUSTOM, json={"mappings": {"Active": "ACTIVE", "Gone": "DELETED"}}
    )
    assert status == 400
    issue = body["error"]["details"]["issues"][0]
    assert issue["field"] == "mappings.Gone" and "DELETED" in issue["message"]
    assert "EVICTED" in issue["message"]
    bad_bodies = [
        {"mappings": {}},
        {"mappings": {"Active": 1}},
        {"mappings": {"x": "ACTIVE"}, "more": 1},
        {},
    ]
    for bad in bad_bodies:
        status, body, _ = await api.call("PUT", CUSTOM, json=bad)
        assert status == 400, (bad, body)
    status, body, _ = await api.call("PUT", CUSTOM, json={"mappings": {"a\u0000b": "ACTIVE"}})
    assert status == 400
    # Nothing was stored.
    integration = await api.store.get_integration("acme")
    assert "enum_maps" not in integration.options
    wrong_field = "/v1/admin/integrations/acme/normalization/leases/start_date"
    status, _, _ = await api.call("PUT", wrong_field, json={"mappings": {"a": "ACTIVE"}})
    assert status == 404
    status, _, _ = await api.call(
        "PUT",
        "/v1/admin/integrations/nobody/normalization/leases/status",
        json={"mappings": {"a": "ACTIVE"}},
    )
    assert status == 404
    status, _, _ = await api.call("DELETE", CUSTOM, key=api.read_key)
    assert status == 403


async def test_transform_overrides_add_custom_data_fields_from_the_next_sync(
    api: Api, sim: BuildiumSimulator
) -> None:
    await api.store.add_integration(sim_integration(sim))
    path = "/v1/admin/integrations/acme/transforms/leases"
    shown = await read(api, path)
    assert shown["custom_data"]["is_eviction_pending"] == {
        "source": "IsEvictionPending",
        "origin": "default",
    }
    assert shown["schema_file"].endswith("leases.yaml")
    await sync(api)

    mine = {"lease_type_raw": "LeaseType", "rent_raw": "AccountDetails.Rent"}
    status, answer, _ = await api.call("PUT", path, json={"custom_data": mine})
    assert status == 200, answer
    body = answer["result"]
    assert body["custom_data"]["lease_type_raw"] == {"source": "LeaseType", "origin": "custom"}
    assert body["custom_data"]["is_eviction_pending"]["origin"] == "default"
    assert await read(api, path) == body

    await sync(api)
    leases = (await api.get("/v1/leases/", limit=250))["results"]
    assert leases and all(lease["custom_data"]["lease_type_raw"] for lease in leases)
    assert all("rent_raw" in lease["custom_data"] for lease in leases)

    for bad, field in (
        ({"custom_data": {"broken": "a..b"}}, "custom_data.broken"),
        ({"custom_data": {"Bad-Name": "LeaseType"}}, "custom_data.Bad-Name"),
        ({"custom_data": "LeaseType"}, "custom_data"),
    ):
        status, body, _ = await api.call("PUT", path, json=bad)
        assert status == 400, body
        assert body["error"]["details"]["issues"][0]["field"].startswith(field), body
    status, _, _ = await api.call("GET", "/v1/admin/integrations/acme/transforms/floor_plans")
    assert status == 404
    status, _, _ = await api.call("GET", path, key=api.read_key)
    assert status == 403

    status, body, _ = await api.call("PUT", path, json={"custom_data": {}})
    assert status == 200 and "lease_type_raw" not in body["result"]["custom_data"]
    assert "transforms" not in (await api.store.get_integration("acme")).options
