"""API keys at the door, the error shape, the probes and the served OpenAPI document."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import aiohttp

from syncd.api.application import build_application
from syncd.api.auth import KeyGuard
from syncd.api.context import ApiContext
from syncd.api.health import HttpServer, Readiness
from syncd.metrics import Metrics
from syncd.services.keys import create_key
from syncd.store.keys import KeyScope

from .conftest import Api

READ_PATH = "/v1/properties/"
ADMIN_PATH = "/v1/admin/integrations/"


async def test_no_key_or_a_bad_key_is_401_in_the_error_shape(api: Api) -> None:
    status, body, headers = await api.call("GET", READ_PATH, anonymous=True)
    assert status == 401
    assert body["error"]["code"] == "unauthorized"
    assert headers["WWW-Authenticate"].startswith("Bearer")
    for key in ("sk_" + "x" * 43, "not-a-key"):
        status, body, _ = await api.call("GET", READ_PATH, key=key)
        assert (status, body["error"]["code"]) == (401, "unauthorized")
    async with api.session.get(api.url + READ_PATH, headers={"Authorization": "Basic abc"}) as r:
        assert r.status == 401


async def test_a_read_key_reads_but_may_not_administer(api: Api) -> None:
    status, _, _ = await api.call("GET", READ_PATH, key=api.read_key)
    assert status == 200
    status, body, _ = await api.call("GET", ADMIN_PATH, key=api.read_key)
    assert (status, body["error"]["code"]) == (403, "forbidden")
    status, _, _ = await api.call("GET", ADMIN_PATH)
    assert status == 200


async def test_a_revoked_key_is_refused(api: Api) -> None:
    record, key = await create_key(api.keys, name="soon-gone", scope=KeyScope.READ, rate_limit=50)
    assert (await api.call("GET", READ_PATH, key=key))[0] == 200
    await api.keys.revoke(record.id, record.created_at)
    assert (await api.call("GET", READ_PATH, key=key))[0] == 401


async def test_each_key_has_its_own_rate_limit_with_headers(api: Api) -> None:
    _, key = await create_key(api.keys, name="slow", scope=KeyScope.READ, rate_limit=2)
    first = await api.call("GET", READ_PATH, key=key)
    assert first[0] == 200
    assert first[2]["x-ratelimit-limit"] == "2"
    assert first[2]["x-ratelimit-remaining"] == "1"
    assert (await api.call("GET", READ_PATH, key=key))[0] == 200
    status, body, headers = await api.call("GET", READ_PATH, key=key)
    assert (status, body["error"]["code"]) == (429, "rate_limited")
    assert headers["x-ratelimit-remaining"] == "0"
    assert int(headers["retry-after"]) >= 1
    # Another key is not held back by this one.
    assert (await api.call("GET", READ_PATH, key=api.read_key))[0] == 200


async def test_unknown_paths_and_methods_answer_json(api: Api) -> None:
    status, body, _ = await api.call("GET", "/v1/no-such-thing")
    assert (status, body["error"]["code"]) == (404, "not_found")
    status, body, headers = await api.call("DELETE", "/openapi.json")
    assert (status, body["error"]["code"]) == (405, "method_not_allowed")
    assert "GET" in headers["Allow"]


async def test_unknown_query_parameters_are_rejected_by_name(api: Api) -> None:
    status, body, _ = await api.call("GET", READ_PATH, params={"colour": "blue"})
    assert status == 400
    issue = body["error"]["details"]["issues"][0]
    assert (issue["location"], issue["field"]) == ("query", "colour")


async def test_probes_are_open_by_default(api: Api) -> None:
    for path in ("/healthz", "/readyz", "/metrics", "/openapi.json"):
        status, *_ = await _raw_get(api.session, api.url + path)
        assert status == 200, path


async def test_probes_need_a_key_when_configured(api: Api, tmp_path: Path) -> None:
    settings = api.settings.model_copy(update={"http_open_probes": False})
    ctx = ApiContext(api.store, api.webhooks, settings, KeyGuard(api.keys))
    readiness = Readiness(stale_after=30)
    readiness.tick()
    server = HttpServer(build_application(ctx, metrics=Metrics(), readiness=readiness))
    url = await server.start("127.0.0.1", 0)
    try:
        for path in ("/healthz", "/readyz", "/metrics"):
            assert (await _raw_get(api.session, url + path))[0] == 401
            assert (await _raw_get(api.session, url + path, api.read_key))[0] == 200
    finally:
        await server.stop()


async def test_the_document_describes_every_served_operation(api: Api) -> None:
    status, doc, _ = await api.call("GET", "/openapi.json", anonymous=True)
    assert status == 200
    assert doc["openapi"] == "3.1.0"
    ops = [op for item in doc["paths"].values() for op in item.values()]
    ids = Counter(op["operationId"] for op in ops)
    assert [i for i, n in ids.items() if n > 1] == []
    for path, item in doc["paths"].items():
        for method, op in item.items():
            assert op["summary"], (method, path)
            if op["security"]:
                assert {"401", "403", "429"} <= set(op["responses"]), (method, path)
    assert {"/v1/properties/", "/v1/leases/{id}", "/v1/events"} <= set(doc["paths"])
    refs = {
        ref.rsplit("/", 1)[1]
        for ref in _refs(doc["paths"])
        if ref.startswith("#/components/schemas/")
    }
    assert refs <= set(doc["components"]["schemas"])


def _refs(node: object) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [r for v in node.values() for r in _refs(v)]
    if isinstance(node, list):
        return [r for v in node for r in _refs(v)]
    return []


async def _raw_get(
    session: aiohttp.ClientSession, url: str, key: str | None = None
) -> tuple[int, bytes]:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    async with session.get(url, headers=headers) as response:
        return response.status, await response.read()
