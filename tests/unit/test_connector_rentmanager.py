"""RentManagerConnector against the Rent Manager simulator over loopback HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp import web
from structlog.testing import capture_logs

from syncd.connectors.base import ConnectorOptions
from syncd.connectors.registry import get_connector_class
from syncd.connectors.rentmanager import (
    RentManagerConnector,
    company_base_url,
    format_timestamp,
    rentmanager_error_message,
)
from syncd.domain import Capability, FetchWindow, Page, PropertyScope
from syncd.errors import (
    AuthenticationError,
    ConfigError,
    CredentialError,
    PermanentError,
    PMSServerError,
    RequestRejected,
)
from syncd.sim.rentmanager import LOGIN_PATH, TOKEN_HEADER, RentManagerRenderer
from syncd.sim.server import SimError, Simulator

SCALE = 60
MODELS = (
    "properties",
    "floor_plans",
    "units",
    "residents",
    "leases",
    "lead_sources",
    "leads",
    "employees",
)


class RecordingRenderer(RentManagerRenderer):
    """The simulator's renderer, noting each authenticated request (and refusing on demand)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.seen: list[tuple[str, dict[str, str], str | None]] = []
        self.refuse_all = False

    async def authenticate(self, request: web.Request) -> str:
        self.seen.append((request.path, dict(request.query), request.headers.get(TOKEN_HEADER)))
        if self.refuse_all:
            raise SimError(401, "The API token is invalid or has expired.")
        return await super().authenticate(request)

    def queries(self, path: str) -> list[dict[str, str]]:
        return [query for p, query, _ in self.seen if p == path]


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    async with Simulator(RecordingRenderer, seed=3, scale=SCALE, rate_limit=0) as s:
        yield s


def rec(sim: Simulator) -> RecordingRenderer:
    assert isinstance(sim.renderer, RecordingRenderer)
    return sim.renderer


def connector(
    sim: Simulator, credentials: dict[str, str] | None = None, **overrides: Any
) -> RentManagerConnector:
    settings: dict[str, Any] = {
        "page_size": 25,
        "concurrency": 4,
        "rate_limit": 0,
        "max_attempts": 3,
        "backoff_base": 0.01,
        "backoff_max": 0.05,
        "timeout": 5.0,
    }
    return RentManagerConnector(
        base_url=sim.url,
        credentials=dict(sim.credentials) if credentials is None else credentials,
        options=ConnectorOptions(**(settings | overrides)),
    )


async def collect(
    conn: RentManagerConnector,
    model: str,
    window: FetchWindow | None = None,
    *,
    cursor: str | None = None,
    scope: PropertyScope | None = None,
) -> tuple[list[Page], Any]:
    async with conn.pages(
        model, window or FetchWindow(), cursor=cursor, scope=scope or PropertyScope()
    ) as pages:
        got = [page async for page in pages]
    return got, pages.proof


def ids(pages: list[Page], field: str) -> list[int]:
    return [record[field] for page in pages for record in page.records]


def logins(sim: Simulator) -> int:
    return int(sim.stats_snapshot()["by_path"].get(LOGIN_PATH, 0))


# -- what the connector declares ---------------------------------------------------------


def test_registered_with_its_models_dates_and_limit() -> None:
    assert get_connector_class("rentmanager") is RentManagerConnector
    caps = RentManagerConnector.capabilities()
    assert set(caps) == set(MODELS)
    assert all(Capability.READ in c for c in caps.values())
    assert caps["leads"] == {Capability.READ, Capability.CREATE, Capability.UPDATE}
    for model in MODELS:
        assert RentManagerConnector.date_fields(model) == {"updated", "created"}
    assert RentManagerConnector.date_fields("charges") == frozenset()
    assert RentManagerConnector.rate_limit is not None
    assert RentManagerConnector.rate_limit.describe() == "500 requests/min"
    create = RentManagerConnector.writable_fields("leads", Capability.CREATE)
    assert {"first_name", "last_name", "email_1", "phone_1"} <= create
    # Rent Manager keeps notes as history items, not on the prospect.
    assert "notes" not in create
    assert RentManagerConnector.writable_fields("units", Capability.UPDATE) == frozenset()
    assert "time_zone" in RentManagerConnector.option_keys


def test_each_company_has_its_own_host() -> None:
    creds = {"username": "u", "password": "p", "location_id": "1", "company": "Acme-2"}
    for environment in ("production", "sandbox"):
        url = RentManagerConnector.base_url_for(environment, creds)
        assert url == "https://acme-2.api.rentmanager.com"
    for bad in ("acme.evil.example", "acme/x", "-acme", "ac me"):
        with pytest.raises(ConfigError) as err:
            RentManagerConnector.base_url_for("production", {**creds, "company": bad})
        assert err.value.field == "credentials.company"
    with pytest.raises(ConfigError) as err:
        RentManagerConnector.base_url_for("production", {"username": "u"})
    assert err.value.field == "credentials.company"
    with pytest.raises(ConfigError):
        RentManagerConnector.default_base_url("production")
    with pytest.raises(ValueError, match="unknown environment"):
        RentManagerConnector.base_url_for("staging", creds)
    assert company_base_url(" acme ") == "https://acme.api.rentmanager.com"


def test_credentials_are_validated() -> None:
    good = {"username": "u", "password": "p", "location_id": "3"}
    RentManagerConnector.validate_credentials({**good, "company": "acme"})
    # An integration with its own base URL needs no company code.
    RentManagerConnector.validate_credentials(good, base_url="http://127.0.0.1:9")
    with pytest.raises(ConfigError) as err:
        RentManagerConnector.validate_credentials(good)
    assert err.value.field == "credentials.company"
    with pytest.raises(ConfigError) as err:
        RentManagerConnector.validate_credentials({**good, "location_id": "main", "company": "a"})
    assert err.value.field == "credentials.location_id"
    with pytest.raises(ConfigError) as err:
        RentManagerConnector.validate_credentials({**good, "company": "a.b"})
    assert err.value.field == "credentials.company"
    with pytest.raises(ConfigError, match="takes no credential 'token'"):
        RentManagerConnector.validate_credentials({**good, "token": "x"}, base_url="http://x")
    with pytest.raises(ConfigError, match="needs password"):
        RentManagerConnector.validate_credentials({"username": "u", "location_id": "1"})


def test_the_constructor_refuses_what_cannot_work() -> None:
    with pytest.raises(CredentialError, match="lack password"):
        RentManagerConnector(base_url="http://x", credentials={"username": "u", "location_id": "1"})
    with pytest.raises(CredentialError, match="location id"):
        RentManagerConnector(
            base_url="http://x", credentials={"username": "u", "password": "p", "location_id": "x"}
        )
    with pytest.raises(ConfigError) as err:
        RentManagerConnector(
            base_url="http://x",
            credentials={"username": "u", "password": "p", "location_id": "1"},
            options=ConnectorOptions(extra={"time_zone": "Mars/Olympus"}),
        )
    assert err.value.field == "connector.time_zone"


def test_timestamps_have_no_zone() -> None:
    moment = datetime(2024, 3, 1, 9, 0, 0, 250_000, tzinfo=UTC)
    assert format_timestamp(moment) == "2024-03-01T09:00:00"
    assert format_timestamp(moment, round_up=True) == "2024-03-01T09:00:01"
    assert format_timestamp(moment.replace(microsecond=0), round_up=True) == "2024-03-01T09:00:00"
    # A naive datetime is UTC.
    assert format_timestamp(datetime(2024, 3, 1, 9)) == "2024-03-01T09:00:00"


def test_error_bodies_of_both_kinds_are_read() -> None:
    client_error = {
        "Message": "The request is invalid.",
        "ModelState": {"filters": ["'Color' cannot be filtered on Units."]},
    }
    assert rentmanager_error_message(client_error) == (
        "The request is invalid. filters: 'Color' cannot be filtered on Units."
    )
    server_error = {
        "UserMessage": "Something went wrong.",
        "DeveloperMessage": "NullReferenceException at Units",
        "ErrorCode": 1001,
        "MoreInfoUri": None,
        "Details": "Contact support.",
    }
    assert rentmanager_error_message(server_error) == (
        "Something went wrong. NullReferenceException at Units Contact support. [1001]"
    )
    assert rentmanager_error_message({"Message": "Denied.", "ModelState": {}}) == "Denied."
    assert rentmanager_error_message("plain text") == "plain text"
    assert rentmanager_error_message({}) is None
    assert rentmanager_error_message([1, 2]) is None


# -- login and tokens ------------------------------------------------------------------------


async def test_logs_in_once_and_sends_the_token_on_every_request(sim: Simulator) -> None:
    async with connector(sim, page_size=5, concurrency=4) as conn:
        await conn.check_auth()
        pages, proof = await collect(conn, "units")
    assert ids(pages, "UnitID") == list(range(1, SCALE + 1))
    assert proof is not None and proof.listed == SCALE
    # Concurrent pages waited for one login.
    assert logins(sim) == 1 and conn.auth.logins == 1
    tokens = {token for _, _, token in rec(sim).seen}
    assert len(tokens) == 1 and None not in tokens


async def test_a_wrong_password_fails_with_rent_managers_message(sim: Simulator) -> None:
    bad = {**sim.credentials, "password": "wrong"}
    async with connector(sim, bad) as conn:
        with pytest.raises(AuthenticationError, match=r"Invalid username or password\."):
            await conn.check_auth()
        with pytest.raises(AuthenticationError):
            await collect(conn, "units")
    # A refused login is not tried again (repeated failures can lock the account).
    assert logins(sim) == 1
    assert rec(sim).seen == []


async def test_the_location_is_sent_with_the_login(sim: Simulator) -> None:
    other = {**sim.credentials, "location_id": "2"}
    async with connector(sim, other) as conn:
        with pytest.raises(AuthenticationError, match="access to location 2"):
            await conn.check_auth()


async def test_an_expired_token_is_renewed_once(sim: Simulator) -> None:
    async with connector(sim) as conn:
        first, _ = await collect(conn, "residents")
        rec(sim).expire_tokens()
        again, proof = await collect(conn, "residents")
    assert proof is not None
    assert ids(again, "TenantID") == ids(first, "TenantID")
    assert logins(sim) == 2


async def test_a_token_refused_after_renewal_fails(sim: Simulator) -> None:
    rec(sim).refuse_all = True
    async with connector(sim) as conn:
        with pytest.raises(AuthenticationError, match="invalid or has expired"):
            await collect(conn, "units")
    # The first login, one renewal, and the request tried with each token.
    assert logins(sim) == 2
    assert len(rec(sim).queries("/Units")) == 2


# -- paging ----------------------------------------------------------------------------------


async def test_pages_by_number_sorted_by_id_with_the_total(sim: Simulator) -> None:
    async with connector(sim, concurrency=1) as conn:
        pages, proof = await collect(conn, "units")
    queries = rec(sim).queries("/Units")
    assert queries == [
        {"orderby": "UnitID", "embeds": "Addresses", "PageSize": "25", "PageNumber": str(n)}
        for n in (1, 2, 3)
    ]
    assert [len(p.records) for p in pages] == [25, 25, 10]
    assert [p.cursor for p in pages] == ["25", "50", "60"]
    assert {p.total for p in pages} == {SCALE}
    assert proof is not None
    assert (proof.listed, proof.announced, proof.sweep_safe) == (SCALE, SCALE, True)


async def test_a_full_last_page_without_a_next_link_ends_the_listing(sim: Simulator) -> None:
    # 60 units in pages of 20: the third page is full, answered 200 without a Link.
    async with connector(sim, page_size=20) as conn:
        pages, proof = await collect(conn, "units")
    assert [q["PageNumber"] for q in rec(sim).queries("/Units")] == ["1", "2", "3"]
    assert len(ids(pages, "UnitID")) == SCALE and proof is not None


async def test_a_no_content_answer_is_an_empty_listing() -> None:
    empty = Simulator(RecordingRenderer, seed=3, scale=0, rate_limit=0)
    async with empty, connector(empty) as conn:
        pages, proof = await collect(conn, "properties")
    assert [p.records for p in pages] == [[]]
    assert proof is not None and proof.listed == 0 and proof.announced == 0
    assert empty.stats_snapshot()["by_status"].get("204") == 1


async def test_a_listing_resumes_at_the_page_after_the_cursor(sim: Simulator) -> None:
    async with connector(sim) as conn:
        pages, proof = await collect(conn, "units", cursor="25")
    assert ids(pages, "UnitID") == list(range(26, SCALE + 1))
    assert rec(sim).queries("/Units")[0]["PageNumber"] == "2"
    assert proof is not None and proof.start == 25
    async with connector(sim) as conn:
        pages, _ = await collect(conn, "units", cursor="garbage")
    assert ids(pages, "UnitID") == list(range(1, SCALE + 1))


async def test_page_size_is_capped_at_1000(sim: Simulator) -> None:
    async with connector(sim, page_size=5000) as conn:
        assert conn.page_size == 1000
        pages, _ = await collect(conn, "residents")
    assert rec(sim).queries("/Tenants")[0]["PageSize"] == "1000"
    assert len(ids(pages, "TenantID")) == len(sim.truth()["residents"]["live"])


@pytest.mark.parametrize(
    ("model", "path", "embeds"),
    [
        ("properties", "/Properties", "Addresses,PhoneNumbers"),
        ("floor_plans", "/UnitTypes", None),
        ("units", "/Units", "Addresses"),
        ("residents", "/Tenants", "Addresses,PhoneNumbers,PrimaryContact"),
        ("leases", "/Leases", "Tenant.Contacts"),
        ("leads", "/Prospects", "Addresses,PhoneNumbers,PrimaryContact"),
        ("lead_sources", "/LeadSources", None),
        ("employees", "/Users", "PhoneNumbers"),
    ],
)
async def test_each_model_reads_its_resource_with_its_embeds(
    sim: Simulator, model: str, path: str, embeds: str | None
) -> None:
    async with connector(sim) as conn:
        _, proof = await collect(conn, model)
    (query, *_) = rec(sim).queries(path)
    assert query.get("embeds") == embeds
    assert proof is not None
    assert proof.listed == len(sim.truth()[model]["live"]) > 0


# -- windows and scope -------------------------------------------------------------------------


async def test_an_update_window_is_sent_as_filters(sim: Simulator) -> None:
    since = datetime(2024, 3, 1, 9, 0, tzinfo=UTC)
    until = datetime(2024, 3, 2, 0, 0, 0, 500_000, tzinfo=UTC)
    async with connector(sim) as conn:
        await collect(conn, "units", FetchWindow(since=since, until=until))
    (query,) = rec(sim).queries("/Units")
    # The upper bound rounds up: the window asked is never narrower than wanted.
    assert query["filters"] == "UpdateDate,ge,2024-03-01T09:00:00;UpdateDate,le,2024-03-02T00:00:01"


async def test_window_bounds_are_sent_in_the_companys_time_zone(sim: Simulator) -> None:
    since = datetime(2024, 3, 1, 14, 0, tzinfo=UTC)
    async with connector(sim, extra={"time_zone": "America/New_York"}) as conn:
        await collect(conn, "units", FetchWindow(since=since))
    assert rec(sim).queries("/Units")[0]["filters"] == "UpdateDate,ge,2024-03-01T09:00:00"


async def test_an_update_window_lists_what_changed(sim: Simulator) -> None:
    changed = sim.mutate("leads", update=3, create=1)
    since = datetime.now(UTC) - timedelta(minutes=1)
    async with connector(sim) as conn:
        pages, proof = await collect(conn, "leads", FetchWindow(since=since))
    assert sorted(ids(pages, "ProspectID")) == sorted(changed["updated"] + changed["created"])
    assert proof is not None and proof.announced == 4


async def test_a_created_window_filters_by_create_date(sim: Simulator) -> None:
    changed = sim.mutate("residents", update=3, create=2)
    since = datetime.now(UTC) - timedelta(minutes=1)
    async with connector(sim) as conn:
        pages, _ = await collect(conn, "residents", FetchWindow(since=since, field="created"))
    assert rec(sim).queries("/Tenants")[0]["filters"].startswith("CreateDate,ge,")
    assert sorted(ids(pages, "TenantID")) == changed["created"]


async def test_a_window_on_another_date_lists_everything(sim: Simulator) -> None:
    window = FetchWindow(since=datetime.now(UTC), field="moved_in")
    with capture_logs() as logs:
        async with connector(sim) as conn:
            pages, _ = await collect(conn, "units", window)
    assert "filters" not in rec(sim).queries("/Units")[0]
    assert len(ids(pages, "UnitID")) == SCALE
    assert any(e["event"] == "pms.window.unsupported" and e["model"] == "units" for e in logs)


async def test_excluded_properties_are_filtered_out_where_records_have_one(
    sim: Simulator,
) -> None:
    scope = PropertyScope(frozenset({"3", "1", "not-an-id"}))
    since = datetime(2020, 1, 1, tzinfo=UTC)
    async with connector(sim) as conn:
        units, _ = await collect(conn, "units", FetchWindow(since=since), scope=scope)
        plans, _ = await collect(conn, "floor_plans", scope=scope)
    (query,) = rec(sim).queries("/Units")
    assert query["filters"] == "UpdateDate,ge,2020-01-01T00:00:00;PropertyID,ni,(1,3)"
    assert {r["PropertyID"] for p in units for r in p.records} == {2}
    # Unit types belong to no property: listed whole.
    assert "filters" not in rec(sim).queries("/UnitTypes")[0]
    assert len(ids(plans, "UnitTypeID")) == len(sim.truth()["floor_plans"]["live"])


# -- errors -------------------------------------------------------------------------------------


async def test_a_rejected_request_names_rent_managers_complaint(sim: Simulator) -> None:
    async with connector(sim) as conn:
        with pytest.raises(RequestRejected) as err:
            await conn.fetch_page("/Units", {"filters": "Color,eq,red"})
    assert "filters: 'Color' cannot be filtered on Units." in str(err.value)
    assert err.value.status == 400


async def test_server_errors_are_retried_then_reported(sim: Simulator) -> None:
    sim.add_fault("500", path="/Units", count=2)
    async with connector(sim) as conn:
        pages, proof = await collect(conn, "units")
        assert conn.stats.retries == 2
    assert proof is not None and len(ids(pages, "UnitID")) == SCALE
    sim.add_fault("500", path="/Units", count=10)
    async with connector(sim) as conn:
        with pytest.raises(PMSServerError, match=r"An unexpected error occurred\..*\[500\]"):
            await collect(conn, "units")


async def test_rate_limit_headers_hold_requests_back_before_a_429(sim: Simulator) -> None:
    # Two requests a second: each answer says how many remain and when a
    # slot frees, and the connector waits for it instead of running into 429s.
    sim.rate_limit = 2
    async with connector(sim, page_size=12, concurrency=1) as conn:
        pages, proof = await collect(conn, "units")
        assert conn.stats.throttled == 0
    assert proof is not None and len(ids(pages, "UnitID")) == SCALE
    assert sim.stats_snapshot()["429s"] == 0


async def test_unknown_models_and_closed_connectors_are_refused(sim: Simulator) -> None:
    conn = connector(sim)
    with pytest.raises(RuntimeError, match="not open"):
        conn.pages("units", FetchWindow())
    async with conn:
        with pytest.raises(PermanentError, match="no 'charges' resource"):
            conn.pages("charges", FetchWindow())


async def test_one_record_by_id(sim: Simulator) -> None:
    async with connector(sim) as conn:
        tenant = await conn.fetch_one("residents", "7")
        assert tenant is not None and tenant["TenantID"] == 7
        assert tenant["PrimaryContact"]["ParentID"] == 7
        assert await conn.fetch_one("residents", "99999") is None
        assert await conn.fetch_one("residents", "abc") is None
        assert await conn.fetch_one("charges", "1") is None
    assert rec(sim).queries("/Tenants/7") == [{"embeds": "Addresses,PhoneNumbers,PrimaryContact"}]
