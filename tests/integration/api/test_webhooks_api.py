"""Webhook subscriptions over real HTTP, on both engines, to local receivers that verify
every signature with the ``standardwebhooks`` library."""

from __future__ import annotations

import uuid
from typing import Any

from syncd.domain import EventType, OutboxEvent
from syncd.services.webhooks import deliver_due
from syncd.webhooks.signing import generate_secret

from .conftest import Api
from .helpers import Receiver

HOOKS = "/v1/webhooks/"


async def create(api: Api, **body: Any) -> dict[str, Any]:
    status, answer, _ = await api.call("POST", HOOKS, json=body)
    assert status == 201, answer
    result: dict[str, Any] = answer["result"]
    return result


def data_event(kind: EventType = EventType.DATA_NEW, model: str = "leases") -> OutboxEvent:
    return OutboxEvent(
        integration_id="acme",
        vendor="BUILDIUM",
        event_type=kind,
        payload={"integration_id": "acme", "n": str(uuid.uuid4())},
        model=model,
        record_id=uuid.uuid4(),
        x_id="L1",
    )


async def test_create_list_get_update_delete(api: Api, receiver: Receiver) -> None:
    made = await create(
        api,
        url=receiver.url,
        triggers=["DATA_NEW", "SYNC_COMPLETE"],
        model="leases",
        headers=[{"header": "X-Tenant", "value": "acme-token"}],
    )
    assert made["secret"].startswith("whsec_")  # generated, shown this once
    assert made["active"] is True and made["state"] == "ACTIVE"
    assert made["headers"] == [{"header": "X-Tenant"}]
    assert made["models"] == ["leases"]
    assert made["triggers"] == [
        {"id": "DATA_NEW:leases", "trigger": "DATA_NEW", "model": "leases"},
        {"id": "SYNC_COMPLETE", "trigger": "SYNC_COMPLETE", "model": None},
    ]
    assert made["pending"] == 0 and made["dead"] == 0
    given = generate_secret()
    second = await create(
        api, url=receiver.url, triggers=["JOB_FAILURE"], secret=given, active=False
    )
    assert second["secret"] == given and second["active"] is False
    assert second["state"] == "PAUSED" and second["models"] is None

    listed = await api.get(HOOKS)
    assert [w["id"] for w in listed["results"]] == [second["id"], made["id"]]
    assert listed["meta"]["total"] == 2
    assert all("secret" not in w for w in listed["results"])
    assert "acme-token" not in str(listed)
    oldest = await api.get("/v1/webhooks", limit=1, **{"order-by": "created_at:asc"})
    assert [w["id"] for w in oldest["results"]] == [made["id"]] and oldest["meta"]["hasMore"]
    paused = await api.get(HOOKS, active="false")
    assert [w["id"] for w in paused["results"]] == [second["id"]]
    one = await api.get(f"{HOOKS}{made['id']}")
    assert "secret" not in one["results"]
    expected = {k: v for k, v in made.items() if k != "secret"}
    assert one["results"] == expected

    # Pause, then resume with a new URL, models and headers.
    status, answer, _ = await api.call("PUT", f"{HOOKS}{made['id']}", json={"active": False})
    assert status == 200, answer
    assert answer["result"]["active"] is False and answer["result"]["secret"] is None
    changes = {
        "active": True,
        "url": receiver.url + "?v=2",
        "models": ["units", "leases"],
        "headers": [{"header": "X-Other", "value": "v"}],
    }
    status, answer, _ = await api.call("PUT", f"{HOOKS}{made['id']}/", json=changes)
    assert status == 200, answer
    result = answer["result"]
    assert result["active"] is True and result["url"] == receiver.url + "?v=2"
    assert result["models"] == ["units", "leases"] and result["headers"] == [{"header": "X-Other"}]
    assert [t["id"] for t in result["triggers"]] == [
        "DATA_NEW:units",
        "DATA_NEW:leases",
        "SYNC_COMPLETE",
    ]
    assert result["updated_at"] > made["updated_at"] and result["created_at"] == made["created_at"]
    status, answer, _ = await api.call("PUT", f"{HOOKS}{made['id']}", json={"models": []})
    assert answer["result"]["models"] is None

    status, answer, _ = await api.call("DELETE", f"{HOOKS}{made['id']}")
    assert (status, answer) == (204, None)
    for method in ("GET", "PUT", "DELETE"):
        status, answer, _ = await api.call(method, f"{HOOKS}{made['id']}", json={})
        assert status == 404, (method, answer)
        assert answer["error"]["code"] == "not_found"
    status, _, _ = await api.call("POST", f"{HOOKS}{made['id']}/test")
    assert status == 404
    status, _, _ = await api.call("GET", f"{HOOKS}no%00such")
    assert status == 404


async def test_test_messages_are_signed_and_rotation_changes_the_key(
    api: Api, receiver: Receiver
) -> None:
    made = await create(api, url=receiver.url, triggers=["DATA_UPDATE"])
    receiver.secrets = [made["secret"]]
    status, answer, _ = await api.call("POST", f"{HOOKS}{made['id']}/test")
    assert status == 200, answer
    assert answer["ok"] is True and answer["status"] == 204 and answer["error"] is None
    assert answer["message_id"].startswith("evt_test_") and answer["latency_ms"] >= 0
    ((headers, payload),) = receiver.accepted
    assert headers["webhook-id"] == answer["message_id"]
    assert payload["type"] == "WEBHOOK_TEST"
    assert payload["data"]["subscription_id"] == made["id"]

    status, answer, _ = await api.call("PUT", f"{HOOKS}{made['id']}", json={"rotate_secret": True})
    assert status == 200, answer
    rotated = answer["result"]["secret"]
    assert rotated.startswith("whsec_") and rotated != made["secret"]
    # The receiver still only knows the old secret: the test message fails to verify.
    status, answer, _ = await api.call("POST", f"{HOOKS}{made['id']}/test")
    assert answer["ok"] is False and answer["status"] == 401 and receiver.forged == 1
    assert answer["response"] == "bad signature"
    receiver.secrets = [rotated]
    status, answer, _ = await api.call("POST", f"{HOOKS}{made['id']}/test")
    assert answer["ok"] is True and len(receiver.accepted) == 2

    given = generate_secret()
    status, answer, _ = await api.call("PUT", f"{HOOKS}{made['id']}", json={"secret": given})
    assert answer["result"]["secret"] == given
    assert "secret" not in (await api.get(f"{HOOKS}{made['id']}"))["results"]
    receiver.secrets = [given]
    status, answer, _ = await api.call("POST", f"{HOOKS}{made['id']}/test")
    assert answer["ok"] is True

    # A receiver that is not there: the answer says so, and is no error of the API.
    await receiver.stop()
    status, answer, _ = await api.call("POST", f"{HOOKS}{made['id']}/test")
    assert status == 200 and answer["ok"] is False and answer["status"] is None
    assert answer["error"]


async def test_bad_requests_name_the_field(api: Api, receiver: Receiver) -> None:
    good: dict[str, Any] = {"url": receiver.url, "triggers": ["DATA_NEW"]}
    cases: list[tuple[dict[str, Any], str]] = [
        ({"url": None}, "url"),
        ({"url": "ftp://example.test/x"}, "url"),
        ({"url": "http://user:pw@127.0.0.1/x"}, "url"),
        ({"url": "http://127.0.0.1/\x00"}, "url"),
        ({"url": "x" * 2001}, "url"),
        ({"triggers": []}, "triggers"),
        ({"triggers": ["DATA_NEW", "DATA_EXPLODED"]}, "triggers.1"),
        ({"model": "houses"}, "model"),
        ({"models": ["leases", "houses"]}, "models.1"),
        ({"model": "leases", "models": ["units"]}, "model"),
        ({"headers": [{"header": "Bad Name", "value": "v"}]}, "headers.0.header"),
        ({"headers": [{"header": "X-A", "value": "a\r\nb"}]}, "headers.0.value"),
        (
            {"headers": [{"header": "X-A", "value": "1"}, {"header": "x-a", "value": "2"}]},
            "headers",
        ),
        ({"headers": [{"header": "webhook-signature", "value": "v"}]}, "headers"),
        ({"headers": [{"header": "X-A"}]}, "headers.0.value"),
        ({"secret": "hunter2-not-a-secret"}, "secret"),
        ({"active": "maybe"}, "active"),
        ({"colour": "red"}, "colour"),
    ]
    for change, field in cases:
        status, body, _ = await api.call("POST", HOOKS, json=good | change)
        assert status == 400, (change, body)
        issues = body["error"]["details"]["issues"]
        assert [i["field"] for i in issues] == [field], (change, body)
        assert "hunter2" not in str(body)
    made = await create(api, **good)
    updates: list[tuple[dict[str, Any], str]] = [
        ({"triggers": ["NOPE"]}, "triggers.0"),
        ({"url": "mailto:x@example.test"}, "url"),
        ({"rotate_secret": True, "secret": generate_secret()}, "rotate_secret"),
        ({"headers": [{"header": "Host", "value": "evil"}]}, "headers"),
    ]
    for change, field in updates:
        status, body, _ = await api.call("PUT", f"{HOOKS}{made['id']}", json=change)
        assert status == 400, (change, body)
        assert [i["field"] for i in body["error"]["details"]["issues"]] == [field], body
    assert (await api.get(f"{HOOKS}{made['id']}"))["results"]["url"] == receiver.url
    status, body, _ = await api.call("GET", HOOKS, params={"order-by": "secret"})
    assert status == 400 and body["error"]["details"]["issues"][0]["field"] == "order-by"
    assert (await api.get(HOOKS))["meta"]["total"] == 1  # nothing stored by a bad request

    for method, path in [
        ("GET", HOOKS),
        ("POST", HOOKS),
        ("GET", f"{HOOKS}{made['id']}"),
        ("POST", f"{HOOKS}deliveries/replay"),
        ("GET", f"{HOOKS}events/1/deliveries"),
    ]:
        status, body, _ = await api.call(method, path, key=api.read_key, json=good)
        assert status == 403, (method, path, body)


async def test_delivery_log_and_replay(api: Api, receiver: Receiver) -> None:
    made = await create(api, url=receiver.url, triggers=["DATA_NEW"], models=["leases"])
    other = await create(api, url=receiver.url, triggers=["DATA_NEW"], active=False)
    receiver.secrets = [made["secret"], other["secret"]]
    await api.store.add_events([data_event(), data_event(model="units")])
    report = await deliver_due(api.webhooks, api.settings)
    assert report.delivered == 1  # the lease event; the paused subscription waits
    ((headers, payload),) = receiver.accepted
    lease_event = headers["webhook-id"]
    event_id = int(lease_event.removeprefix("evt_"))

    log = await api.get(f"{HOOKS}events/{lease_event}/deliveries")
    assert log["event_id"] == event_id and log["webhook_id"] == lease_event
    assert log["event"]["id"] == event_id and log["event"]["type"] == "DATA_NEW"
    assert log["event"]["model"] == "leases" and log["event"]["data"] == payload["data"]
    by_sub = {d["subscription_id"]: d for d in log["deliveries"]}
    assert set(by_sub) == {made["id"], other["id"]}
    assert by_sub[made["id"]]["status"] == "DELIVERED" and by_sub[made["id"]]["attempts"] == 1
    assert by_sub[made["id"]]["last_status_code"] == 204 and by_sub[made["id"]]["delivered_at"]
    assert by_sub[other["id"]]["status"] == "PENDING"
    delivered = [a for a in log["attempts"] if a["subscription_id"] == made["id"]]
    assert [a["attempt"] for a in delivered] == [1] and delivered[0]["status_code"] == 204
    assert (await api.get(f"{HOOKS}events/{event_id}/deliveries")) == log
    assert (await api.get(f"{HOOKS}{made['id']}"))["results"]["pending"] == 0
    assert (await api.get(f"{HOOKS}{other['id']}"))["results"]["pending"] == 2

    status, body, _ = await api.call("GET", f"{HOOKS}events/999999/deliveries")
    assert status == 404 and body["error"]["code"] == "not_found"
    for unknown in ("evt_x", "0", "9" * 30):
        status, body, _ = await api.call("GET", f"{HOOKS}events/{unknown}/deliveries")
        assert status == 404, (unknown, body)

    # Replay: say what to replay, to a subscription that exists.
    status, body, _ = await api.call("POST", f"{HOOKS}deliveries/replay", json={})
    assert status == 400 and "say what to replay" in body["error"]["message"]
    status, body, _ = await api.call(
        "POST",
        f"{HOOKS}deliveries/replay",
        json={"dead_only": True, "subscription_id": "wh_nobody"},
    )
    assert status == 404
    for bad, field in [
        ({"event_id": "evt_"}, "event_id"),
        ({"event_id": 0}, "event_id"),
        ({"event_id": True}, "event_id"),
        ({"since": 0.5}, "since"),
    ]:
        status, body, _ = await api.call("POST", f"{HOOKS}deliveries/replay", json=bad)
        assert status == 400 and body["error"]["details"]["issues"][0]["field"] == field
    status, body, _ = await api.call(
        "POST",
        f"{HOOKS}deliveries/replay",
        json={"event_id": lease_event, "subscription_id": made["id"]},
    )
    assert (status, body) == (200, {"replayed": 1})
    assert (await api.get(f"{HOOKS}{made['id']}"))["results"]["pending"] == 1
    await deliver_due(api.webhooks, api.settings)
    again = [h["webhook-id"] for h, _ in receiver.accepted]
    assert again.count(lease_event) == 2  # the same message id, delivered twice
    log = await api.get(f"{HOOKS}events/{lease_event}/deliveries")
    mine = [a for a in log["attempts"] if a["subscription_id"] == made["id"]]
    assert [a["attempt"] for a in mine] == [1, 1]  # attempts restart with a replay
    status, body, _ = await api.call(
        "POST", f"{HOOKS}deliveries/replay", json={"since": "2000-01-01T00:00:00"}
    )
    assert (status, body) == (200, {"replayed": 1})  # pending deliveries are not replayed
