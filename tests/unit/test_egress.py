"""The egress allow-list: PMS requests and webhook deliveries go only to named hosts."""

from __future__ import annotations

import base64

import pytest

from syncd.connectors.base import ConnectorOptions
from syncd.connectors.http import JsonHttpClient
from syncd.egress import host_allowed, parse_hosts
from syncd.errors import EgressRefused
from syncd.store.webhook_base import Subscription
from syncd.webhooks.dispatcher import send_test


def test_hosts_parse_case_insensitively_and_an_empty_list_allows_any() -> None:
    assert parse_hosts(" 127.0.0.1, API.Buildium.com ,,") == ("127.0.0.1", "api.buildium.com")
    assert host_allowed("https://anywhere.example/x", ())
    allowed = parse_hosts("127.0.0.1,api.buildium.com")
    assert host_allowed("http://127.0.0.1:8080/v1", allowed)
    assert host_allowed("https://API.buildium.com/v1", allowed)
    assert not host_allowed("https://evil.example/v1", allowed)
    assert not host_allowed("not a url", allowed)


async def test_a_pms_request_to_another_host_is_refused_before_connecting() -> None:
    # Port 9 on a name that does not resolve: any attempt to connect would fail
    # differently (and slowly), so the refusal must come first.
    options = ConnectorOptions(allowed_hosts=("127.0.0.1",), max_attempts=1)
    async with JsonHttpClient("http://pms.invalid:9", options=options) as client:
        with pytest.raises(EgressRefused, match="SYNCD_EGRESS_ALLOWED_HOSTS"):
            await client.request("GET", "/v1/rentals")


async def test_a_webhook_to_another_host_is_not_posted() -> None:
    subscription = Subscription(
        id="s1",
        url="http://receiver.invalid:9/hook",
        triggers=("DATA_NEW",),
        models=None,
        headers={},
        secret="whsec_" + base64.b64encode(b"k" * 32).decode(),
    )
    result = await send_test(subscription, allowed_hosts=("127.0.0.1",))
    assert result.status is None
    assert result.error is not None and "SYNCD_EGRESS_ALLOWED_HOSTS" in result.error
