"""The webhooks pages, served for real on both engines, against a receiver that checks
every signature: add (triggers, model filter, headers), mistakes, the secret shown once,
the test event, the delivery log, replay, disable, enable and delete."""

from __future__ import annotations

import re
import uuid

import pytest
from api.conftest import Api
from api.helpers import Receiver

from syncd.domain import EventType, OutboxEvent
from syncd.errors import SubscriptionNotFound
from syncd.services.webhooks import (
    NewSubscription,
    add_subscription,
    deliver_due,
    find_delivery_log,
    subscription_status,
)
from syncd.store.webhook_base import EVENT_TYPES, DeliveryStatus, Subscription, SubscriptionState
from syncd.webhooks.signing import generate_secret
from syncd.webhooks.spec import KNOWN_MODELS

from .helpers import Browser, Page, wait_until

HOOKS = "/dashboard/webhooks"
_SECRET = re.compile(r"whsec_[A-Za-z0-9+/=]+")


async def submit(browser: Browser, path: str, fields: list[tuple[str, str]]) -> Page:
    """POST a form whose fields may repeat (checkboxes), with the current CSRF token."""
    form = [("csrf_token", browser.token), *fields]
    async with browser.session.post(browser.base + path, data=form) as r:
        page = Page(r.status, str(r.url), await r.text(), r.headers)
    found = re.search(r'name="csrf_token" value="([^"]+)"', page.html)
    if found:
        browser.token = found.group(1)
    return page


def data_event(model: str = "leases") -> OutboxEvent:
    """A DATA_NEW event about a new record of ``model``."""
    return OutboxEvent(
        integration_id="acme",
        vendor="BUILDIUM",
        event_type=EventType.DATA_NEW,
        payload={"integration_id": "acme", "n": str(uuid.uuid4())},
        model=model,
        record_id=uuid.uuid4(),
        x_id="L1",
    )


async def only_subscription(api: Api) -> Subscription:
    """The one subscription stored."""
    (sub,) = await api.webhooks.list_subscriptions()
    return sub


async def added(api: Api, receiver: Receiver, models: tuple[str, ...] = ()) -> Subscription:
    """A subscription made through the service, its secret given to the receiver."""
    request = NewSubscription(url=receiver.url, triggers=["DATA_NEW"], models=models)
    made = await add_subscription(api.webhooks, request)
    receiver.secrets.append(made.subscription.secret)
    return made.subscription


async def delivered_all(api: Api, receiver: Receiver, count: int) -> bool:
    """Deliver what is due; True once the receiver has accepted ``count`` messages."""
    await deliver_due(api.webhooks, api.settings)
    return len(receiver.accepted) >= count


async def test_a_webhook_added_through_the_form_is_stored_and_its_secret_shown_once(
    api: Api, browser: Browser, receiver: Receiver
) -> None:
    await browser.sign_in(api.admin_key)
    empty = await browser.get(HOOKS)
    assert empty.status == 200 and "+ Add webhook" in empty.html and "No webhook yet" in empty.html
    form = await browser.get(HOOKS + "/new")
    assert form.status == 200
    for trigger in EVENT_TYPES:
        assert f'id="trigger_{trigger}"' in form.html and f'for="trigger_{trigger}"' in form.html
    for model in KNOWN_MODELS:
        assert f'id="model_{model}"' in form.html
    assert 'for="url"' in form.html and 'for="headers"' in form.html

    page = await submit(
        browser,
        HOOKS + "/new",
        [
            ("url", receiver.url),
            ("triggers", "DATA_NEW"),
            ("triggers", "SYNC_COMPLETE"),
            ("models", "leases"),
            ("models", "units"),
            ("headers", "X-Tenant: acme-token\r\n\r\nX-Other:  v  "),
        ],
    )
    assert page.status == 200, page.html
    sub = await only_subscription(api)
    assert sub.url == receiver.url and sub.state is SubscriptionState.ACTIVE
    assert sub.triggers == ("DATA_NEW", "SYNC_COMPLETE")
    assert sub.models == ("leases", "units")
    assert dict(sub.headers) == {"X-Tenant": "acme-token", "X-Other": "v"}
    # The page that answers the form shows the generated secret, this once.
    shown = _SECRET.findall(page.html)
    assert shown == [sub.secret]
    assert "shown this once" in page.html and f"Webhook <code>{sub.id}</code>" in page.html
    assert "acme-token" not in page.html  # header values are never shown

    again = await browser.get(f"{HOOKS}/{sub.id}")
    assert again.status == 200 and sub.id in again.html
    assert sub.secret not in again.html and "whsec_" not in again.html
    assert "acme-token" not in again.html and "X-Other, X-Tenant" in again.html
    assert "leases, units" in again.html and "Enabled" in again.html
    listed = await browser.get(HOOKS)
    assert sub.secret not in listed.html and receiver.url in listed.html
    assert f'href="{HOOKS}/{sub.id}"' in listed.html
    assert "DATA_NEW, SYNC_COMPLETE" in listed.html and "1 webhook." in listed.html

    # A secret given in the form is used, and the page it leads to does not show it.
    mine = generate_secret()
    second = await submit(
        browser,
        HOOKS + "/new",
        [("url", receiver.url), ("triggers", "JOB_FAILURE"), ("secret", mine), ("paused", "true")],
    )
    assert second.status == 200 and mine not in second.html
    assert "signs with the secret you gave" in second.html
    (made,) = [s for s in await api.webhooks.list_subscriptions() if s.id != sub.id]
    assert made.secret == mine and made.state is SubscriptionState.PAUSED and made.models is None
    assert second.url.endswith(f"{HOOKS}/{made.id}")


async def test_mistakes_are_named_next_to_each_field_and_nothing_is_stored(
    api: Api, browser: Browser, receiver: Receiver
) -> None:
    await browser.sign_in(api.admin_key)
    await browser.get(HOOKS + "/new")
    page = await submit(
        browser,
        HOOKS + "/new",
        [
            ("url", "ftp://example.test/hook"),
            ("triggers", "DATA_NEW"),
            ("triggers", "DATA_EXPLODED"),
            ("models", "houses"),
            ("headers", "X-Good: 1\nno colon here secret-value"),
        ],
    )
    assert page.status == 400
    for field in ("url", "triggers", "models", "headers"):
        assert f'id="{field}_error"' in page.html, field
    assert "not an http(s) URL" in page.html
    assert "unknown trigger &#39;DATA_EXPLODED&#39;" in page.html
    assert "unknown model &#39;houses&#39;" in page.html
    assert "line 2: write each header as Name: value" in page.html
    assert "secret-value" in page.html  # kept in the textarea to be corrected, not in an error
    errors = re.findall(r'<p class="field-error" id="\w+">([^<]*)</p>', page.html)
    assert not any("secret-value" in e for e in errors)
    assert 'aria-invalid="true"' in page.html and "url_help url_error" in page.html
    assert 'value="ftp://example.test/hook"' in page.html  # the form keeps what was typed
    assert re.search(r'value="DATA_NEW" checked', page.html)

    cases: list[tuple[list[tuple[str, str]], str, str]] = [
        ([("url", receiver.url)], "triggers", "Choose at least one trigger"),
        ([("url", "")], "url", "Enter the receiver"),
        ([("url", "http://user:pw@127.0.0.1/x")], "url", "credentials do not belong"),
        ([("headers", "X-A: 1\nHost: evil")], "headers", "line 2: &#39;Host&#39; is set by syncd"),
        ([("headers", "Bad Name: v")], "headers", "line 1: &#39;Bad Name&#39; is not a valid"),
        ([("headers", "X-A: 1\nx-a: 2")], "headers", "line 2: &#39;x-a&#39; is already given"),
        ([("secret", "hunter2-not-a-secret")], "secret", ""),
    ]
    for change, field, message in cases:
        fields = dict([("url", receiver.url), ("triggers", "DATA_NEW"), *change])
        if field == "triggers":
            del fields["triggers"]
        answer = await submit(browser, HOOKS + "/new", list(fields.items()))
        assert answer.status == 400, (change, answer.html[-2000:])
        assert f'id="{field}_error"' in answer.html, change
        assert message in answer.html, (change, answer.html)
        assert "hunter2" not in answer.html  # a secret is never echoed
        others = {"url", "triggers", "models", "headers", "secret"} - {field}
        assert not any(f'id="{o}_error"' in answer.html for o in others), change
    assert await api.webhooks.list_subscriptions() == []


async def test_a_form_without_its_csrf_token_is_refused(
    api: Api, browser: Browser, receiver: Receiver
) -> None:
    sub = await added(api, receiver)
    await browser.sign_in(api.admin_key)
    await browser.get(HOOKS + "/new")
    form = {"url": receiver.url, "triggers": "DATA_NEW"}
    assert (await browser.post(HOOKS + "/new", form, token="")).status == 403
    assert (await browser.post(f"{HOOKS}/{sub.id}/delete", {}, token="")).status == 403
    assert [s.id for s in await api.webhooks.list_subscriptions()] == [sub.id]


async def test_the_test_event_reaches_the_receiver_and_the_page_shows_its_answer(
    api: Api, browser: Browser, receiver: Receiver
) -> None:
    sub = await added(api, receiver)
    receiver.status = 202  # an answer with a body
    await browser.sign_in(api.admin_key)
    await browser.get(f"{HOOKS}/{sub.id}")
    page = await browser.post(f"{HOOKS}/{sub.id}/test")
    assert page.status == 200
    ((headers, payload),) = receiver.accepted
    assert payload["type"] == "WEBHOOK_TEST" and payload["data"]["subscription_id"] == sub.id
    assert headers["webhook-id"] in page.html
    assert "HTTP 202" in page.html and "thanks" in page.html and "notice-ok" in page.html

    receiver.secrets = []  # the receiver no longer knows the secret: it refuses
    refused = await browser.post(f"{HOOKS}/{sub.id}/test")
    assert refused.status == 200 and receiver.forged == 1
    assert "HTTP 401" in refused.html and "bad signature" in refused.html
    assert "a delivery needs a 2xx answer" in refused.html

    await receiver.stop()
    gone = await browser.post(f"{HOOKS}/{sub.id}/test")
    assert gone.status == 200 and "The receiver did not answer" in gone.html
    assert "HTTP 4" not in gone.html and "notice-error" in gone.html


async def test_the_delivery_log_lists_deliveries_and_replay_queues_them_again(
    api: Api, browser: Browser, receiver: Receiver
) -> None:
    sub = await added(api, receiver, models=("leases",))
    await browser.sign_in(api.admin_key)
    empty = await browser.get(f"{HOOKS}/{sub.id}")
    assert "Nothing was delivered to it yet" in empty.html

    await api.store.add_events([data_event(), data_event(model="units")])
    await wait_until(lambda: delivered_all(api, receiver, 1), what="the lease event delivered")
    ((headers, _),) = receiver.accepted
    webhook_id = headers["webhook-id"]
    event_id = int(webhook_id.removeprefix("evt_"))

    page = await browser.get(f"{HOOKS}/{sub.id}")
    row = re.search(
        rf'<tr data-event="{event_id}" data-status="DELIVERED">(.*?)</tr>', page.html, re.S
    )
    assert row, page.html
    assert webhook_id in row[1] and "DATA_NEW" in row[1] and "leases" in row[1]
    assert "HTTP 204" in row[1] and "<time" in row[1] and f"Replay {webhook_id}" in row[1]
    assert page.html.count("<tr data-event=") == 1  # the units event was not for it

    event = await browser.get(f"{HOOKS}/{sub.id}/events/{webhook_id}")
    assert event.status == 200 and "HTTP 204" in event.html and "Attempts" in event.html
    assert (await browser.get(f"{HOOKS}/{sub.id}/events/evt_999999")).status == 404
    assert (await browser.get(f"{HOOKS}/{sub.id}/events/nonsense")).status == 404

    replayed = await browser.post(f"{HOOKS}/{sub.id}/replay", {"event_id": str(event_id)})
    assert replayed.status == 200 and replayed.url.endswith(f"{HOOKS}/{sub.id}")
    assert "1 delivery queued again" in replayed.html
    assert (await subscription_status(api.webhooks, sub.id)).pending == 1
    assert f'data-event="{event_id}" data-status="PENDING"' in replayed.html
    await wait_until(lambda: delivered_all(api, receiver, 2), what="the replayed event")
    assert [h["webhook-id"] for h, _ in receiver.accepted] == [webhook_id, webhook_id]
    entry = await find_delivery_log(api.webhooks, event_id)
    assert entry is not None
    assert [d.status for d in entry.deliveries] == [DeliveryStatus.DELIVERED]

    # From the event's page, the replay comes back to it.
    await browser.get(f"{HOOKS}/{sub.id}/events/{event_id}")
    back = await browser.post(
        f"{HOOKS}/{sub.id}/replay",
        {"event_id": str(event_id), "back": f"{HOOKS}/{sub.id}/events/{event_id}"},
    )
    assert back.url.endswith(f"{HOOKS}/{sub.id}/events/{event_id}")
    assert "1 delivery queued again" in back.html
    # Queued already: nothing to replay, and the page says so.
    nothing = await browser.post(f"{HOOKS}/{sub.id}/replay", {"event_id": str(event_id)})
    assert "Nothing was replayed" in nothing.html and "notice-error" in nothing.html
    await wait_until(lambda: delivered_all(api, receiver, 3), what="the second replay")

    since = await browser.post(f"{HOOKS}/{sub.id}/replay", {"since": "2000-01-01T00:00"})
    assert "1 delivery queued again" in since.html
    bad = await browser.post(f"{HOOKS}/{sub.id}/replay", {"since": "yesterday"})
    assert bad.status == 400 and 'id="since_error"' in bad.html
    unsaid = await browser.post(f"{HOOKS}/{sub.id}/replay", {})
    assert "say what to replay" in unsaid.html
    assert (await browser.post(f"{HOOKS}/wh_nobody/replay", {"dead_only": "true"})).status == 404


async def test_the_delivery_log_is_paged(api: Api, browser: Browser, receiver: Receiver) -> None:
    sub = await added(api, receiver)
    await api.store.add_events([data_event() for _ in range(55)])
    await wait_until(lambda: delivered_all(api, receiver, 55), what="55 deliveries")
    await browser.sign_in(api.admin_key)
    first = await browser.get(f"{HOOKS}/{sub.id}")
    shown = [int(n) for n in re.findall(r'<tr data-event="(\d+)"', first.html)]
    assert len(shown) == 50 and shown == sorted(shown, reverse=True)
    older = re.search(r'href="([^"]+\?before=\d+)#log-heading">Older', first.html)
    assert older, first.html
    second = await browser.get(older[1])
    rest = [int(n) for n in re.findall(r'<tr data-event="(\d+)"', second.html)]
    assert len(rest) == 5 and max(rest) < min(shown)
    assert "Older</a>" not in second.html and "Newest</a>" in second.html


async def test_disable_enable_and_delete(api: Api, browser: Browser, receiver: Receiver) -> None:
    sub = await added(api, receiver)
    await browser.sign_in(api.admin_key)
    await browser.get(f"{HOOKS}/{sub.id}")
    off = await browser.post(f"{HOOKS}/{sub.id}/disable")
    assert off.status == 200 and off.url.endswith(f"{HOOKS}/{sub.id}")
    assert "is disabled" in off.html and f"{HOOKS}/{sub.id}/enable" in off.html
    assert (await api.webhooks.get_subscription(sub.id)).state is SubscriptionState.PAUSED
    assert "Disabled" in (await browser.get(HOOKS)).html

    await api.store.add_events([data_event()])
    await deliver_due(api.webhooks, api.settings)
    assert receiver.accepted == []  # disabled: the event waits
    on = await browser.post(f"{HOOKS}/{sub.id}/enable")
    assert "is enabled" in on.html and f"{HOOKS}/{sub.id}/disable" in on.html
    assert (await api.webhooks.get_subscription(sub.id)).state is SubscriptionState.ACTIVE
    await wait_until(lambda: delivered_all(api, receiver, 1), what="the queued event")

    gone = await browser.post(f"{HOOKS}/{sub.id}/delete")
    assert gone.status == 200 and gone.url.endswith(HOOKS)
    assert f"The webhook {sub.id} was deleted" in gone.html
    with pytest.raises(SubscriptionNotFound):
        await api.webhooks.get_subscription(sub.id)
    assert (await browser.get(f"{HOOKS}/{sub.id}")).status == 404
    assert (await browser.post(f"{HOOKS}/{sub.id}/enable")).status == 404
    assert (await browser.get(f"{HOOKS}/no%00such")).status == 404


async def test_the_pages_need_a_signed_in_viewer(api: Api, browser: Browser) -> None:
    page = await browser.get(HOOKS, follow=False)
    assert page.status == 303 and page.headers["Location"].startswith("/dashboard/sign-in")


async def test_dead_lettered_deliveries_are_shown_and_replayed(
    api: Api, browser: Browser, receiver: Receiver
) -> None:
    sub = await added(api, receiver)
    receiver.status = 500
    # No retry window: the first refusal dead-letters the delivery.
    impatient = api.settings.model_copy(update={"webhook_retry_window_seconds": 0})
    await api.store.add_events([data_event()])

    async def dead() -> bool:
        await deliver_due(api.webhooks, impatient)
        return (await subscription_status(api.webhooks, sub.id)).dead == 1

    await wait_until(dead, what="a dead-lettered delivery")
    await browser.sign_in(api.admin_key)
    listed = await browser.get(HOOKS)
    row = re.search(rf'<tr data-subscription="{sub.id}">(.*?)</tr>', listed.html, re.S)
    assert row and '<span class="badge status-failed">1</span>' in row[1]
    page = await browser.get(f"{HOOKS}/{sub.id}")
    assert 'data-status="DEAD"' in page.html and "Dead-lettered</span>" in page.html
    assert "HTTP 500" in page.html and "Replay dead-lettered (1)" in page.html
    ((headers, _),) = receiver.accepted
    event = await browser.get(f"{HOOKS}/{sub.id}/events/{headers['webhook-id']}")
    assert "HTTP 500" in event.html and "thanks" in event.html  # the refusing answer's start

    receiver.status = 204
    replayed = await browser.post(f"{HOOKS}/{sub.id}/replay", {"dead_only": "true"})
    assert "1 delivery queued again" in replayed.html
    status = await subscription_status(api.webhooks, sub.id)
    assert (status.dead, status.pending) == (0, 1)
    await wait_until(lambda: delivered_all(api, receiver, 2), what="the replayed delivery")
    assert 'data-status="DELIVERED"' in (await browser.get(f"{HOOKS}/{sub.id}")).html
