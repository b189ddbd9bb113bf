"""The vendor-neutral simulator server, driven through a tiny test-only renderer.

``ToyRenderer`` speaks a made-up wire format (a token header, ``{"items",
"total"}`` pages, ``{"toy_error": ...}`` errors, ``X-Toy-*`` rate headers),
so every assertion here is about what :class:`~syncd.sim.server.Simulator`
does for any vendor: auth through the renderer, the rate limit, faults
through :meth:`Simulator.page`, the truth and the control plane.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from typing import Any, ClassVar

import aiohttp
import pytest
from aiohttp import web

from syncd.sim.faults import RateLimiter
from syncd.sim.server import (
    Handler,
    Record,
    Renderer,
    SimError,
    Simulator,
    json_response,
    serve_forever,
)
from syncd.sim.world import Entity, World

SCALE = 30  # units; 2 properties, 37 residents
TOKEN_HEADER = "X-Toy-Token"


class ToyRenderer(Renderer):
    """A made-up PMS: just enough wire format to exercise the server base."""

    name: ClassVar[str] = "toy"
    credential_keys: ClassVar[tuple[str, ...]] = ("token",)
    default_rate_limit: ClassVar[float] = 0.0
    max_query_string: ClassVar[int] = 200

    def routes(self, sim: Simulator) -> Iterable[tuple[str, str, Handler]]:
        async def ping(request: web.Request) -> web.StreamResponse:
            return json_response({"pong": True})

        async def listing(request: web.Request) -> web.StreamResponse:
            model = self._model(request)
            offset = int(request.query.get("offset", "0"))
            limit = int(request.query.get("limit", "10"))
            sim.drift(request, model)
            sim.drift(request, model)  # a second call in the same request must not drift again
            records, total = sim.page(
                request, model, self.world.select(model), offset, limit, self._render(model)
            )
            return json_response({"items": records, "total": total})

        async def single(request: web.Request) -> web.StreamResponse:
            model = self._model(request)
            entity = self.world.get(model, int(request.match_info["id"]))
            if entity is None:
                raise SimError(404, "no such record", code="missing")
            return json_response(self._render(model)(entity))

        return [
            ("GET", "/toy/ping", ping),
            ("GET", "/toy/{model}", listing),
            ("GET", "/toy/{model}/{id:[0-9]+}", single),
        ]

    def public(self, request: web.Request) -> bool:
        return request.path == "/toy/ping"

    async def authenticate(self, request: web.Request) -> str:
        if request.headers.get(TOKEN_HEADER) != self.credentials["token"]:
            raise SimError(401, "token refused", code="bad_token", details=[("header", "token")])
        return self.credentials["token"]

    def error(self, error: SimError, headers: Mapping[str, str] | None = None) -> web.Response:
        body = {
            "toy_error": {
                "code": error.code or f"http_{error.status}",
                "message": error.message,
                "details": dict(error.details),
            }
        }
        return json_response(body, status=error.status, headers=headers)

    def throttled(self, retry_after: float | None) -> SimError:
        return SimError(429, "slow down", code="throttled")

    def rate_headers(self, limiter: RateLimiter, client: str) -> Mapping[str, str]:
        capacity, remaining, _reset = limiter.state(client)
        return {"X-Toy-Limit": str(capacity), "X-Toy-Remaining": str(remaining)}

    def x_id(self, model: str, entity_id: int) -> str:
        return f"T-{entity_id}"

    def models(self) -> Sequence[str]:
        return ("properties", "units", "residents")

    def _model(self, request: web.Request) -> str:
        model = request.match_info["model"]
        if model not in self.models():
            raise SimError(404, f"no {model} here", code="unknown_model")
        return model

    def _render(self, model: str) -> Any:
        def render(entity: Entity) -> Record:
            return {"key": self.x_id(model, entity["id"]), "updated": entity["updated"]}

        return render


class Reply:
    """A finished HTTP response."""

    def __init__(self, status: int, headers: Mapping[str, str], body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def keys(self) -> list[str]:
        return [item["key"] for item in self.json()["items"]]

    @property
    def total(self) -> int:
        total: int = self.json()["total"]
        return total


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    async with Simulator(ToyRenderer, seed=3, scale=SCALE) as simulator:
        yield simulator


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def _get(
    http: aiohttp.ClientSession,
    sim: Simulator,
    path: str,
    params: Mapping[str, str] | None = None,
    *,
    token: str | None = "",
) -> Reply:
    """GET ``path``; ``token`` "" sends the right one, None sends none."""
    headers = {}
    if token is not None:
        headers[TOKEN_HEADER] = token or sim.credentials["token"]
    async with http.get(sim.url + path, params=params, headers=headers) as response:
        return Reply(response.status, response.headers, await response.read())


async def _control(
    http: aiohttp.ClientSession, sim: Simulator, method: str, path: str, body: Any = None
) -> tuple[int, Any]:
    kwargs: dict[str, Any] = {} if body is None else {"json": body}
    async with http.request(method, sim.url + path, **kwargs) as response:
        return response.status, await response.json()


def _toy_error(reply: Reply) -> dict[str, Any]:
    body = reply.json()
    assert set(body) == {"toy_error"}
    error: dict[str, Any] = body["toy_error"]
    return error


# -- construction ------------------------------------------------------------------


def test_credentials_are_checked_and_default_from_the_seed() -> None:
    with pytest.raises(ValueError, match="token"):
        Simulator(ToyRenderer, credentials={"other": "x"})
    with pytest.raises(ValueError, match="token"):
        Simulator(ToyRenderer, credentials={"token": ""})
    a, b, c = (Simulator(ToyRenderer, seed=s) for s in (1, 1, 2))
    assert a.credentials == b.credentials != c.credentials
    assert set(a.credentials) == {"token"}
    assert Simulator(ToyRenderer, credentials={"token": "t"}).credentials == {"token": "t"}


def test_the_world_is_built_by_the_renderer_or_given() -> None:
    built = Simulator(ToyRenderer, seed=4, scale=12)
    assert built.world is built.renderer.world
    assert (built.world.seed, built.world.scale) == (4, 12)
    assert built.name == "toy"
    given = World(seed=9, scale=5)
    sim = Simulator(ToyRenderer, scale=10_000, world=given)
    assert sim.world is given and sim.renderer.world is given
    assert sim.counts() == {"properties": 1, "units": 5, "residents": 6}


def test_the_rate_limit_defaults_to_the_renderers() -> None:
    assert Simulator(ToyRenderer).rate_limit == 0
    sim = Simulator(ToyRenderer, rate_limit=4)
    assert sim.rate_limit == 4
    sim.rate_limit = 2
    assert sim.limiter.rate == 2


async def test_url_only_while_running() -> None:
    sim = Simulator(ToyRenderer, scale=5)
    with pytest.raises(RuntimeError):
        _ = sim.url
    url = await sim.start()
    try:
        assert await sim.start() == url == sim.url
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+", url)
    finally:
        await sim.stop()
    await sim.stop()
    with pytest.raises(RuntimeError):
        _ = sim.url


# -- auth and errors ----------------------------------------------------------------


async def test_auth_refusal_uses_the_renderers_error_format(
    sim: Simulator, http: aiohttp.ClientSession
) -> None:
    for token in (None, "wrong"):
        reply = await _get(http, sim, "/toy/units", token=token)
        assert reply.status == 401
        assert _toy_error(reply) == {
            "code": "bad_token",
            "message": "token refused",
            "details": {"header": "token"},
        }
    assert (await _get(http, sim, "/toy/units")).status == 200
    # A public endpoint needs no credentials.
    assert (await _get(http, sim, "/toy/ping", token=None)).json() == {"pong": True}
    assert sim.stats_snapshot()["by_status"] == {"200": 2, "401": 2}


async def test_routing_errors_and_handler_errors_use_the_renderers_format(
    sim: Simulator, http: aiohttp.ClientSession
) -> None:
    missing = await _get(http, sim, "/nowhere")
    assert missing.status == 404
    assert _toy_error(missing)["code"] == "http_404"
    async with http.post(sim.url + "/toy/units", headers={TOKEN_HEADER: "x"}) as response:
        assert response.status == 405
        assert (await response.json())["toy_error"]["code"] == "http_405"
    unknown = await _get(http, sim, "/toy/leases")
    assert unknown.status == 404
    assert _toy_error(unknown)["code"] == "unknown_model"
    gone = await _get(http, sim, "/toy/units/999")
    assert gone.status == 404
    assert _toy_error(gone) == {"code": "missing", "message": "no such record", "details": {}}


async def test_a_long_query_string_is_refused_by_the_renderers_hook(
    sim: Simulator, http: aiohttp.ClientSession
) -> None:
    assert (await _get(http, sim, "/toy/units", {"q": "x" * 150})).status == 200
    reply = await _get(http, sim, "/toy/units", {"q": "x" * 250})
    assert reply.status == 414
    assert _toy_error(reply)["code"] == "http_414"


# -- rate limit ---------------------------------------------------------------------


async def test_rate_limit_answers_429_with_the_renderers_headers(
    http: aiohttp.ClientSession,
) -> None:
    async with Simulator(ToyRenderer, scale=SCALE, rate_limit=3) as sim:
        replies = await asyncio.gather(*(_get(http, sim, "/toy/units") for _ in range(5)))
        assert sorted(r.status for r in replies) == [200, 200, 200, 429, 429]
        for reply in replies:
            assert reply.headers["X-Toy-Limit"] == "3"
            if reply.status == 429:
                assert _toy_error(reply)["code"] == "throttled"
                assert reply.headers["X-Toy-Remaining"] == "0"
                assert "Retry-After" not in reply.headers
        remaining = sorted(int(r.headers["X-Toy-Remaining"]) for r in replies if r.status == 200)
        assert remaining == [0, 1, 2]
        stats = sim.stats_snapshot()
        assert (stats["429s"], stats["rate_limited"]) == (2, 2)
        # Refused credentials never count against the limit, nor get its headers.
        refused = await _get(http, sim, "/toy/units", token="wrong")
        assert refused.status == 401
        assert "X-Toy-Limit" not in refused.headers


async def test_a_429_fault_sends_retry_after(sim: Simulator, http: aiohttp.ClientSession) -> None:
    sim.add_fault("429", retry_after=1.5)
    reply = await _get(http, sim, "/toy/units")
    assert reply.status == 429
    assert reply.headers["Retry-After"] == "1.5"
    assert _toy_error(reply)["code"] == "throttled"
    assert sim.stats_snapshot()["rate_limited"] == 0
    assert sim.stats_snapshot()["429s"] == 1


# -- faults through Simulator.page --------------------------------------------------


async def test_list_faults_through_page(sim: Simulator, http: aiohttp.ClientSession) -> None:
    page = {"offset": "10", "limit": "10"}
    first = await _get(http, sim, "/toy/units", {"limit": "10"})
    clean = await _get(http, sim, "/toy/units", page)
    assert clean.keys == [f"T-{i}" for i in range(11, 21)]
    assert clean.total == SCALE

    sim.add_fault("empty")
    empty = await _get(http, sim, "/toy/units", page)
    assert (empty.json()["items"], empty.total) == ([], 0)

    sim.add_fault("repeat")
    repeat = await _get(http, sim, "/toy/units", page)
    assert (repeat.keys, repeat.total) == (first.keys, SCALE)

    sim.add_fault("short")
    short = await _get(http, sim, "/toy/units", page)
    assert (short.keys, short.total) == (clean.keys[:5], SCALE)

    sim.add_fault("total", delta=4)
    skewed = await _get(http, sim, "/toy/units", page)
    assert (skewed.keys, skewed.total) == (clean.keys, SCALE + 4)

    sim.add_fault("malformed")
    malformed = (await _get(http, sim, "/toy/units", page)).json()["items"]
    assert malformed[0]["key"] == {"broken": True}
    assert malformed[1:] == clean.json()["items"][1:]

    assert (await _get(http, sim, "/toy/units", page)).body == clean.body
    served = sim.stats_snapshot()["faults_served"]
    assert served == {"empty": 1, "repeat": 1, "short": 1, "total": 1, "malformed": 1}


async def test_drift_changes_the_world_once_per_request(
    sim: Simulator, http: aiohttp.ClientSession
) -> None:
    sim.add_fault("drift", path="/toy/units", create=2, delete=3)
    drifted = await _get(http, sim, "/toy/units", {"offset": "10", "limit": "10"})
    # The handler asks twice; the world changes once.
    assert drifted.total == SCALE + 2 - 3
    assert sim.counts()["units"] == SCALE - 1
    now = await _get(http, sim, "/toy/units", {"limit": "100"})
    assert drifted.keys == now.keys[10:20]
    truth = sim.truth()["units"]
    assert len(truth["deleted"]) == 3
    assert {"T-31", "T-32"} <= set(truth["live"])


async def test_error_faults_and_slow_and_truncate(
    sim: Simulator, http: aiohttp.ClientSession
) -> None:
    full = await _get(http, sim, "/toy/units")

    sim.add_fault("500", path="/toy/units")
    assert (await _get(http, sim, "/toy/units/1")).status == 200  # another path
    failed = await _get(http, sim, "/toy/units")
    assert failed.status == 500
    assert _toy_error(failed)["code"] == "InternalServerError"

    sim.add_fault("truncate")
    cut = await _get(http, sim, "/toy/units")
    assert cut.status == 200
    assert cut.body == full.body[: len(full.body) // 2]
    with pytest.raises(json.JSONDecodeError):
        cut.json()

    sim.add_fault("slow", delay=0.2)
    started = time.monotonic()
    slow = await _get(http, sim, "/toy/units")
    assert time.monotonic() - started >= 0.2
    assert slow.body == full.body

    served = sim.stats_snapshot()["faults_served"]
    assert served == {"500": 1, "truncate": 1, "slow": 1}


async def test_faults_skip_refused_and_public_requests(
    sim: Simulator, http: aiohttp.ClientSession
) -> None:
    sim.add_fault("500")
    assert (await _get(http, sim, "/toy/units", token="wrong")).status == 401
    assert (await _get(http, sim, "/toy/ping", token=None)).status == 200
    assert len(sim.faults) == 1
    assert (await _get(http, sim, "/toy/units")).status == 500
    assert len(sim.faults) == 0


# -- truth --------------------------------------------------------------------------


async def test_truth_after_a_mutation(sim: Simulator, http: aiohttp.ClientSession) -> None:
    status, before = await _control(http, sim, "GET", "/_sim/truth")
    assert status == 200
    assert before["vendor"] == "toy"
    assert sorted(before["models"]) == ["properties", "residents", "units"]
    assert before["models"]["units"] == {
        "live": [f"T-{i}" for i in range(1, SCALE + 1)],
        "deleted": [],
    }

    changed = sim.mutate("units", create=2, update=1, delete=4)
    status, after = await _control(http, sim, "GET", "/_sim/truth")
    assert status == 200
    assert after["models"] == sim.truth()
    units = after["models"]["units"]
    assert {f"T-{i}" for i in changed["created"]} <= set(units["live"])
    assert units["deleted"] == [f"T-{i}" for i in changed["deleted"]]
    assert not set(units["deleted"]) & set(units["live"])
    assert len(units["live"]) == SCALE + 2 - 4
    listed = await _get(http, sim, "/toy/units", {"limit": "100"})
    assert listed.keys == units["live"]
    assert after["models"]["residents"] == before["models"]["residents"]


# -- control plane ------------------------------------------------------------------


async def test_mutate_over_http_and_its_validation(
    sim: Simulator, http: aiohttp.ClientSession
) -> None:
    status, body = await _control(
        http, sim, "POST", "/_sim/mutate", {"model": "units", "create": 1}
    )
    assert status == 200
    assert (body["model"], body["created"], body["deleted"]) == ("units", [SCALE + 1], [])
    assert body["counts"] == sim.counts()
    assert body["counts"]["units"] == SCALE + 1

    for bad, message in (
        ([], "JSON object"),
        ({"model": "owners"}, "model must be one of properties"),
        ({"model": "units", "create": -1}, "create must be an integer >= 0"),
        ({"model": "units", "delete": True}, "delete must be an integer >= 0"),
        ({"model": "units", "update": 1.5}, "update must be an integer >= 0"),
    ):
        status, error = await _control(http, sim, "POST", "/_sim/mutate", bad)
        assert status == 400, bad
        assert message in error["error"], bad
    async with http.post(sim.url + "/_sim/mutate", data=b"{nope") as response:
        assert response.status == 400
        assert "JSON" in (await response.json())["error"]
    assert sim.counts()["units"] == SCALE + 1


async def test_faults_over_http_and_their_validation(
    sim: Simulator, http: aiohttp.ClientSession
) -> None:
    status, body = await _control(
        http, sim, "POST", "/_sim/faults", [{"kind": "empty", "path": "/toy/units"}]
    )
    assert status == 200
    assert [f["kind"] for f in body["faults"]] == ["empty"]
    for bad, message in (
        ({"kind": "teapot"}, "kind"),
        ({"kind": "empty", "atfer": 1}, "atfer"),
        ([{"kind": "500"}, 3], "fault object or a list"),
        ("500", "fault object or a list"),
    ):
        status, error = await _control(http, sim, "POST", "/_sim/faults", bad)
        assert status == 400, bad
        assert message in error["error"], bad
    status, pending = await _control(http, sim, "GET", "/_sim/faults")
    assert status == 200
    assert [f["kind"] for f in pending["faults"]] == ["empty"]  # a refused body queues nothing
    assert (await _control(http, sim, "DELETE", "/_sim/faults")) == (200, {"faults": []})
    assert len(sim.faults) == 0


async def test_stats_count_the_pms_api_only_and_reset(
    sim: Simulator, http: aiohttp.ClientSession
) -> None:
    sim.add_fault("empty", count=2)
    await _get(http, sim, "/toy/units")
    await _get(http, sim, "/toy/units", token=None)
    await _control(http, sim, "GET", "/_sim/faults")
    status, stats = await _control(http, sim, "GET", "/_sim/stats")
    assert status == 200
    assert stats["requests"] == 2
    assert stats["by_path"] == {"/toy/units": 2}
    assert stats["by_status"] == {"200": 1, "401": 1}
    assert stats["faults_served"] == {"empty": 1}
    assert [f["count"] for f in stats["faults_pending"]] == [1]
    assert stats["counts"] == sim.counts()
    status, reset = await _control(http, sim, "DELETE", "/_sim/stats")
    assert status == 200
    assert (reset["requests"], reset["by_path"], reset["faults_served"]) == (0, {}, {})
    assert len(reset["faults_pending"]) == 1  # resetting statistics keeps the faults


# -- serve_forever ------------------------------------------------------------------


async def test_serve_forever_until_cancelled(http: aiohttp.ClientSession) -> None:
    ready: asyncio.Queue[tuple[str, dict[str, str]]] = asyncio.Queue()
    sim = Simulator(ToyRenderer, seed=5, scale=4)
    task = asyncio.create_task(
        serve_forever(
            sim,
            host="127.0.0.1",
            port=0,
            on_ready=lambda url, creds: ready.put_nowait((url, dict(creds))),
        )
    )
    url, creds = await asyncio.wait_for(ready.get(), 10)
    assert creds == sim.credentials
    async with http.get(url + "/toy/units", headers={TOKEN_HEADER: creds["token"]}) as response:
        assert response.status == 200
        assert (await response.json())["total"] == 4
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    with pytest.raises(aiohttp.ClientConnectionError):
        async with http.get(url + "/toy/ping"):
            pass
