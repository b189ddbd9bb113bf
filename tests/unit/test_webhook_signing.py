"""Standard Webhooks signing, secrets, message bodies, the retry schedule, subscription checks."""

from __future__ import annotations

import base64
import random
from datetime import UTC, datetime, timedelta

import orjson
import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from syncd.errors import ConfigError
from syncd.events import event_body, iso_utc, message_id, parse_message_id
from syncd.store.webhook_base import ChangeEvent, Subscription
from syncd.webhooks.retry import RetryPolicy
from syncd.webhooks.signing import generate_secret, secret_key, sign, signed_headers
from syncd.webhooks.spec import parse_headers, subscription_spec


def test_generated_secret_is_whsec_base64_of_random_bytes() -> None:
    secret = generate_secret()
    assert secret.startswith("whsec_")
    assert len(base64.b64decode(secret.removeprefix("whsec_"))) == 32
    assert secret != generate_secret()
    assert secret_key(secret) == base64.b64decode(secret[6:])
    with pytest.raises(ValueError):
        generate_secret(16)


def test_signature_matches_the_reference_library() -> None:
    secret = generate_secret()
    body = b'{"type":"DATA_NEW","timestamp":"2026-01-01T00:00:00.000000Z","data":{"a":1}}'
    now = int(datetime.now(UTC).timestamp())
    headers = signed_headers(secret_key(secret), "evt_42", now, body)
    assert headers["webhook-id"] == "evt_42"
    assert headers["webhook-timestamp"] == str(now)
    reference = Webhook(secret).sign("evt_42", datetime.fromtimestamp(now, UTC), body.decode())
    assert headers["webhook-signature"] == reference
    assert Webhook(secret).verify(body, headers) == orjson.loads(body)


def test_tampered_stale_or_foreign_messages_fail_verification() -> None:
    secret = generate_secret()
    key = secret_key(secret)
    body = b'{"type":"DATA_NEW"}'
    now = int(datetime.now(UTC).timestamp())
    good = signed_headers(key, "evt_1", now, body)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(b'{"type":"DATA_UPDATE"}', good)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body, {**good, "webhook-id": "evt_2"})
    stale = now - 600
    with pytest.raises(WebhookVerificationError, match="too old"):
        Webhook(secret).verify(body, signed_headers(key, "evt_1", stale, body))
    with pytest.raises(WebhookVerificationError):
        Webhook(generate_secret()).verify(body, good)


@pytest.mark.parametrize(
    ("secret", "reason"),
    [
        ("abc", "starts with"),
        ("whsec_not base64!", "base64"),
        ("whsec_" + base64.b64encode(b"x" * 8).decode(), "24 to 64 bytes"),
    ],
)
def test_malformed_secrets_refused_without_echo(secret: str, reason: str) -> None:
    with pytest.raises(ConfigError, match=reason) as info:
        secret_key(secret)
    assert secret not in str(info.value)


def test_sign_is_hmac_over_id_timestamp_body() -> None:
    import hashlib
    import hmac

    key = b"k" * 32
    expected = hmac.new(key, b"evt_7.1700000000.{}", hashlib.sha256).digest()
    assert sign(key, "evt_7", 1700000000, b"{}") == "v1," + base64.b64encode(expected).decode()


def test_event_body_and_message_id() -> None:
    created = datetime(2026, 3, 1, 12, 30, 5, 250000, tzinfo=UTC)
    event = ChangeEvent(
        id=9,
        type="DATA_UPDATE",
        created_at=created,
        integration_id="acme",
        model="leases",
        record_id="r1",
        data={"record_id": "r1", "diff": {"rent": {"old": 1, "new": 2}}},
    )
    assert orjson.loads(event_body(event)) == {
        "type": "DATA_UPDATE",
        "timestamp": "2026-03-01T12:30:05.250000Z",
        "data": {"record_id": "r1", "diff": {"rent": {"old": 1, "new": 2}}},
    }
    assert iso_utc(created) == "2026-03-01T12:30:05.250000Z"
    assert message_id(9) == "evt_9"
    assert parse_message_id("evt_9") == parse_message_id("9") == 9
    with pytest.raises(ValueError):
        parse_message_id("evt_x")


def test_retry_schedule_full_jitter_within_ceiling() -> None:
    policy = RetryPolicy(
        base=timedelta(seconds=5), max_delay=timedelta(hours=6), rng=random.Random(3)
    )
    start = datetime(2026, 1, 1, tzinfo=UTC)
    for attempts in range(1, 30):
        ceiling = policy.ceiling(attempts)
        assert ceiling == min(timedelta(hours=6), timedelta(seconds=5 * 2 ** (attempts - 1)))
        nxt = policy.next_attempt(attempts, start, start)
        assert nxt is not None
        assert start <= nxt <= start + ceiling


def test_default_schedule_spans_a_day_then_dead_letters() -> None:
    policy = RetryPolicy(rng=random.Random(7))
    assert policy.window >= timedelta(hours=24)
    first = now = datetime(2026, 1, 1, tzinfo=UTC)
    attempts = 1
    while (nxt := policy.next_attempt(attempts, first, now)) is not None:
        assert nxt > now or nxt == first + policy.window
        now = nxt
        attempts += 1
    assert now - first == policy.window
    assert 10 <= attempts <= 200


def test_subscription_spec_refuses_bad_input_naming_the_option() -> None:
    ok = subscription_spec(
        url="https://example.test/hook",
        triggers=("DATA_NEW", "DATA_NEW", "JOB_FAILURE"),
        models=("leases",),
        headers={"Authorization": "Bearer x"},
    )
    assert ok.triggers == ("DATA_NEW", "JOB_FAILURE")
    cases = [
        ({"url": "ftp://x/y"}, "--url"),
        ({"url": "https://user:pw@x/y"}, "--url"),
        ({"triggers": ("DATA_NEWS",)}, "--trigger"),
        ({"triggers": ()}, "--trigger"),
        ({"models": ("houses",)}, "--model"),
        ({"headers": {"webhook-signature": "x"}}, "--header"),
        ({"headers": {"bad name": "x"}}, "--header"),
        ({"secret": "whsec_short"}, "--secret"),
    ]
    for change, option in cases:
        fields = {"url": "https://example.test/hook", "triggers": ("DATA_NEW",)} | change
        with pytest.raises(ConfigError, match=f"^{option}: "):
            subscription_spec(**fields)
    assert parse_headers(["X-A=1", "X-B=a=b"]) == {"X-A": "1", "X-B": "a=b"}
    with pytest.raises(ConfigError, match="--header"):
        parse_headers(["novalue"])


def test_model_filter_applies_to_data_events_only() -> None:
    sub = Subscription(
        id="wh_1",
        url="https://x/",
        triggers=("DATA_NEW", "SYNC_COMPLETE"),
        models=("leases",),
        headers={},
        secret=generate_secret(),
    )
    assert sub.matches("DATA_NEW", "leases")
    assert not sub.matches("DATA_NEW", "units")
    assert not sub.matches("DATA_UPDATE", "leases")
    assert sub.matches("SYNC_COMPLETE", None)
    assert sub.matches("SYNC_COMPLETE", "units")
