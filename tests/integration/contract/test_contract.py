"""The connector contract: every connector against its own simulator, alike.

Each PMS joins by a harness module (``vendor_<name>.py``, see
:mod:`contract.harness`). What holds for every PMS: a full listing of each
model equals the simulator's truth; pages, windows and the property scope
work; bad credentials are refused; a token that expires is renewed once;
429s, 5xx answers and truncated bodies are waited out or retried; malformed
records still come through (the transform quarantines them); and a listing
that comes back short, repeats a page, or ends off its announced total is
refused as incomplete.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from contract.harness import VendorHarness, harnesses
from syncd.connectors.base import Connector
from syncd.domain import Capability, FetchWindow, ListingProof, PropertyScope, RawRecord
from syncd.errors import AuthenticationError, IncompleteListing
from syncd.sim.server import Simulator

HARNESSES = harnesses()
PAGED = [h for h in HARNESSES if h.paged]
TOTALS = [h for h in HARNESSES if h.paged and h.announces_totals]
TOKENS = [h for h in HARNESSES if h.expire_tokens is not None]
WINDOWED = [h for h in HARNESSES if h.windowed_model is not None]
SCOPED = [h for h in HARNESSES if h.scoped_models]


def _ids(items: list[VendorHarness]) -> list[str]:
    return [h.vendor.lower() for h in items]


@pytest.fixture
async def sim(harness: VendorHarness) -> AsyncIterator[Simulator]:
    simulator = Simulator(harness.renderer, seed=11, scale=harness.scale, rate_limit=0)
    async with simulator:
        yield simulator


async def _list(
    connector: Connector,
    model: str,
    window: FetchWindow | None = None,
    scope: PropertyScope | None = None,
) -> tuple[list[RawRecord], ListingProof | None]:
    records: list[RawRecord] = []
    async with connector.pages(
        model, window or FetchWindow(), scope=scope or PropertyScope()
    ) as pages:
        async for page in pages:
            records.extend(page.records)
    return records, pages.proof


def _readable(harness: VendorHarness) -> list[str]:
    caps = harness.connector.capabilities()
    return [m for m in caps if Capability.READ in caps[m]]


def _requests_to(sim: Simulator, path: str) -> int:
    by_path: dict[str, Any] = sim.stats_snapshot().get("by_path", {})
    return sum(int(n) for p, n in by_path.items() if p == path)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrize ``harness`` by the list a test names in its ``harnesses`` marker."""
    if "harness" in metafunc.fixturenames:
        marker = metafunc.definition.get_closest_marker("harnesses")
        chosen = marker.args[0] if marker is not None else HARNESSES
        metafunc.parametrize("harness", chosen, ids=_ids(chosen))


def test_every_vendor_has_a_harness() -> None:
    from syncd.connectors.registry import known_vendors

    assert sorted(h.vendor for h in HARNESSES) == sorted(known_vendors())


async def test_every_model_lists_the_simulators_truth(
    harness: VendorHarness, sim: Simulator
) -> None:
    truth = sim.truth()
    async with harness.connect(sim) as connector:
        await connector.check_auth()
        for model in _readable(harness):
            records, proof = await _list(connector, model)
            assert proof is not None, model
            listed = sorted(harness.x_id(model, r) for r in records)
            assert listed == sorted(truth[model]["live"]), model
            assert listed, f"{model}: the simulator holds none, so nothing is compared"


@pytest.mark.harnesses(PAGED)
async def test_a_listing_spans_several_pages(harness: VendorHarness, sim: Simulator) -> None:
    async with harness.connect(sim) as connector:
        records, proof = await _list(connector, harness.paged_model)
    assert proof is not None
    assert len(records) == len(sim.truth()[harness.paged_model]["live"])
    assert _requests_to(sim, harness.paged_path) >= 3


@pytest.mark.harnesses(WINDOWED)
async def test_a_window_lists_only_what_changed_in_it(
    harness: VendorHarness, sim: Simulator
) -> None:
    model = harness.windowed_model
    assert model is not None
    changed = sim.mutate(model, update=3, create=2)
    expected = {sim.renderer.x_id(model, i) for i in changed["updated"] + changed["created"]}
    since = datetime.now(UTC) - timedelta(minutes=2)
    async with harness.connect(sim) as connector:
        assert connector.supports_window(model, "updated")
        records, proof = await _list(connector, model, FetchWindow(since=since))
    assert proof is not None
    assert {harness.x_id(model, r) for r in records} == expected


@pytest.mark.harnesses(SCOPED)
async def test_an_excluded_property_is_not_listed(harness: VendorHarness, sim: Simulator) -> None:
    excluded = sim.truth()["properties"]["live"][0]
    scope = PropertyScope(frozenset({excluded}))
    async with harness.connect(sim) as connector:
        for model in harness.scoped_models:
            everything, _ = await _list(connector, model)
            records, proof = await _list(connector, model, scope=scope)
            assert proof is not None, model
            owners = {harness.property_of(model, r) for r in records}
            assert excluded not in owners, model
            assert records, model
            assert len(records) == sum(
                harness.property_of(model, r) != excluded for r in everything
            ), model


async def test_bad_credentials_are_refused(harness: VendorHarness, sim: Simulator) -> None:
    bad = harness.bad_credentials(sim.credentials)
    async with harness.connect(sim, bad) as connector:
        with pytest.raises(AuthenticationError):
            await connector.check_auth()
        with pytest.raises(AuthenticationError):
            await _list(connector, harness.paged_model)


@pytest.mark.harnesses(TOKENS)
async def test_an_expired_token_is_renewed_once(harness: VendorHarness, sim: Simulator) -> None:
    assert harness.expire_tokens is not None
    async with harness.connect(sim) as connector:
        first, _ = await _list(connector, harness.paged_model)
        harness.expire_tokens(sim)
        again, proof = await _list(connector, harness.paged_model)
    assert proof is not None
    assert len(again) == len(first)


async def test_a_rate_limit_is_waited_out(harness: VendorHarness, sim: Simulator) -> None:
    # The simulator's own limit, far below what four pages in flight ask.
    sim.rate_limit = 1
    async with harness.connect(sim, concurrency=4) as connector:
        records, proof = await _list(connector, harness.paged_model)
        throttled = connector.stats.throttled
    assert proof is not None
    assert len(records) == len(sim.truth()[harness.paged_model]["live"])
    assert throttled > 0
    assert sim.stats_snapshot()["rate_limited"] == throttled
    # The refusals spoke the PMS's own rate-limit headers.
    for header in harness.rate_limit_headers:
        assert header in sim.last_throttled_headers, header


async def test_a_429_with_retry_after_is_honoured(harness: VendorHarness, sim: Simulator) -> None:
    sim.add_fault("429", count=2, path=harness.paged_path, retry_after=0.2)
    started = time.monotonic()
    async with harness.connect(sim) as connector:
        records, proof = await _list(connector, harness.paged_model)
        assert connector.stats.throttled == 2
    assert time.monotonic() - started >= 0.4
    assert proof is not None
    assert len(records) == len(sim.truth()[harness.paged_model]["live"])


@pytest.mark.parametrize("kind", ["500", "truncate"])
async def test_server_errors_and_truncated_bodies_are_retried(
    harness: VendorHarness, sim: Simulator, kind: str
) -> None:
    sim.add_fault(kind, count=2, path=harness.paged_path, after=1)
    async with harness.connect(sim) as connector:
        records, proof = await _list(connector, harness.paged_model)
        assert connector.stats.retries >= 2
    assert proof is not None
    assert len(records) == len(sim.truth()[harness.paged_model]["live"])
    assert sim.stats_snapshot()["faults_served"].get(kind) == 2


async def test_malformed_records_still_come_through(harness: VendorHarness, sim: Simulator) -> None:
    sim.add_fault("malformed", path=harness.paged_path)
    async with harness.connect(sim) as connector:
        records, proof = await _list(connector, harness.paged_model)
    # The transform quarantines the broken ones; the listing itself is whole.
    assert proof is not None
    assert len(records) == len(sim.truth()[harness.paged_model]["live"])


@pytest.mark.harnesses(TOTALS)
@pytest.mark.parametrize("kind", ["short", "repeat", "empty"])
async def test_a_short_repeating_or_empty_page_fails_the_listing(
    harness: VendorHarness, sim: Simulator, kind: str
) -> None:
    sim.add_fault(kind, path=harness.paged_path, after=1)
    async with harness.connect(sim, concurrency=1) as connector:
        with pytest.raises(IncompleteListing):
            await _list(connector, harness.paged_model)


@pytest.mark.harnesses(TOTALS)
@pytest.mark.parametrize("delta", [50, -50])
async def test_a_total_that_does_not_match_fails_the_listing(
    harness: VendorHarness, sim: Simulator, delta: int
) -> None:
    sim.add_fault("total", count=1000, path=harness.paged_path, delta=delta)
    async with harness.connect(sim) as connector:
        with pytest.raises(IncompleteListing):
            await _list(connector, harness.paged_model)
