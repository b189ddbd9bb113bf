"""The webhooks pages: the subscriptions, a new one, its test message, delivery log and replays.

A subscription's page shows its settings (header names only: values are
often credentials), sends a signed test message and shows the receiver's
answer, lists its deliveries newest first (paged by event id, so a long
history costs one indexed query a page), and queues deliveries again. The
signing secret syncd generates is shown once, on the page that answers the
form that created it; no later page shows it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

import structlog
from aiohttp import web
from pydantic import ValidationError

from syncd.api.webhook_deliveries import SUBSCRIPTION_ID
from syncd.dashboard.app import PageRoute, View, local_path
from syncd.dashboard.session import PREFIX
from syncd.errors import ConfigError, NotFound, SubscriptionNotFound
from syncd.events import message_id, parse_message_id
from syncd.services.webhooks import (
    NewSubscription,
    add_subscription,
    find_delivery_log,
    remove_subscription,
    replay_deliveries,
    send_test_message,
    set_subscription_state,
    subscription_deliveries,
    subscription_page,
    subscription_status,
)
from syncd.store.webhook_base import (
    DATA_EVENT_TYPES,
    EVENT_TYPES,
    DeliveryStatus,
    SubscriptionState,
)
from syncd.webhooks.dispatcher import TestResult
from syncd.webhooks.spec import KNOWN_MODELS, SubscriptionSpec

log = structlog.get_logger(__name__)

#: Subscriptions per page of the list.
PAGE_SIZE = 50
#: Deliveries per page of a subscription's delivery log.
LOG_PAGE_SIZE = 50

#: The largest event id (a 64-bit column): a larger one names no event.
_MAX_EVENT_ID = 2**63 - 1
#: Anything else names no subscription, and stays out of the database.
_SUBSCRIPTION_ID = re.compile(SUBSCRIPTION_ID)

#: What each trigger means, for the form (a trigger missing here is offered without a note).
TRIGGER_HELP: Mapping[str, str] = {
    "DATA_NEW": "a record appeared",
    "DATA_UPDATE": "a record changed",
    "DATA_DELETED": "a record was deleted",
    "SYNC_COMPLETE": "a sync finished",
    "FIRST_SYNC_COMPLETE": "an integration's first sync finished",
    "JOB_FAILURE": "a sync job failed",
    "WRITE_OPERATION_SUCCESS": "a write to the PMS succeeded",
    "WRITE_OPERATION_FAILURE": "a write to the PMS failed",
}

#: The form's fields, as the service's errors name them.
_FIELDS = ("url", "triggers", "models", "headers", "secret")


def webhooks_url() -> str:
    """The list of subscriptions."""
    return f"{PREFIX}/webhooks"


def webhook_url(subscription_id: str) -> str:
    """The page of one subscription."""
    return f"{PREFIX}/webhooks/{subscription_id}"


def _subscription_id(view: View) -> str:
    value = view.request.match_info["subscription_id"]
    if not _SUBSCRIPTION_ID.match(value):
        raise SubscriptionNotFound(f"no webhook subscription {value!r}")
    return value


def _event_id(value: str) -> int | None:
    """``evt_N`` or ``N`` as N; None if it names no event."""
    try:
        found = parse_message_id(value.strip())
    except ValueError:
        return None
    return found if 0 < found <= _MAX_EVENT_ID else None


def _plural(count: int, one: str, many: str) -> str:
    return f"{count:,} {one if count == 1 else many}"


# -- the list ------------------------------------------------------------------


async def list_page(view: View) -> web.StreamResponse:
    """``GET /dashboard/webhooks``: every subscription, newest first, with what it is owed."""
    try:
        offset = max(int(view.request.query.get("offset", "0")), 0)
    except ValueError:
        offset = 0
    page = await subscription_page(
        view.ctx.webhooks, order=(("created_at", True),), offset=offset, limit=PAGE_SIZE
    )
    return view.page(
        "webhooks.html",
        title="Webhooks · syncd",
        statuses=page.statuses,
        total=page.total,
        offset=offset,
        page_size=PAGE_SIZE,
    )


# -- a new subscription ----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class HeaderLines:
    """The headers textarea read: the headers, and the line each name was on."""

    headers: dict[str, str]
    lines: dict[str, int]


def parse_header_lines(text: str) -> HeaderLines:
    """``Name: value`` lines (blank lines skipped); ConfigError (``headers``) names a bad line.

    The errors name the line and at most the header's name, never a value:
    header values are often credentials.
    """
    headers: dict[str, str] = {}
    lines: dict[str, int] = {}
    seen: dict[str, int] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        name, sep, value = line.partition(":")
        name = name.strip()
        if not sep or not name:
            raise ConfigError(f"line {number}: write each header as Name: value", field="headers")
        if name.lower() in seen:
            raise ConfigError(
                f"line {number}: {name!r} is already given on line {seen[name.lower()]}",
                field="headers",
            )
        seen[name.lower()] = number
        headers[name] = value.strip()
        lines[name] = number
    return HeaderLines(headers, lines)


def _header_message(message: str, parsed: HeaderLines) -> str:
    """A header error of the service, with the line of the header it names."""
    for name, number in parsed.lines.items():
        if repr(name) in message:
            return f"line {number}: {message}"
    return message


def _service_message(exc: ConfigError) -> str:
    return str(exc).removeprefix(f"{exc.field}: ") if exc.field else str(exc)


@dataclass(frozen=True, slots=True)
class WebhookForm:
    """What the new-webhook form holds (the secret is never shown back)."""

    url: str = ""
    triggers: tuple[str, ...] = ()
    models: tuple[str, ...] = ()
    headers: str = ""
    secret: str = ""
    paused: bool = False

    @classmethod
    def read(cls, view: View) -> WebhookForm:
        """The POSTed form."""
        form = view.form

        def every(name: str) -> tuple[str, ...]:
            if form is None:
                return ()
            values = form.getall(name, [])
            return tuple(v.strip() for v in values if isinstance(v, str) and v.strip())

        # Not stripped: an error's line number is the line the viewer typed it on.
        headers = form.get("headers", "") if form is not None else ""
        return cls(
            url=view.value("url"),
            triggers=every("triggers"),
            models=every("models"),
            headers=headers if isinstance(headers, str) else "",
            secret=view.value("secret"),
            paused=view.value("paused") == "true",
        )


def _check(form: WebhookForm, parsed: HeaderLines | None) -> dict[str, str]:
    """Every wrong field of the form at once (the service stops at the first).

    The rules are the service's own: the same validation model, given the
    whole form, reports each field it refuses.
    """
    try:
        SubscriptionSpec(
            url=form.url,
            triggers=tuple(t.upper() for t in form.triggers),
            models=form.models or None,
            headers=parsed.headers if parsed is not None else {},
            secret=form.secret or None,
        )
    except ValidationError as exc:
        errors: dict[str, str] = {}
        for err in exc.errors():
            where = str(err["loc"][0]) if err["loc"] else "form"
            cause = (err.get("ctx") or {}).get("error")
            message = str(cause) if cause is not None else str(err["msg"])
            if where == "headers" and parsed is not None:
                message = _header_message(message, parsed)
            errors.setdefault(where if where in _FIELDS else "form", message)
        return errors
    return {}


def _form_page(
    view: View,
    form: WebhookForm,
    *,
    errors: Mapping[str, str] | None = None,
    status: int = 200,
) -> web.Response:
    return view.page(
        "webhook_form.html",
        title="Add a webhook · syncd",
        form=form,
        errors=dict(errors or {}),
        triggers=[(t, TRIGGER_HELP.get(t, "")) for t in EVENT_TYPES],
        data_triggers=[t for t in EVENT_TYPES if t in DATA_EVENT_TYPES],
        models=KNOWN_MODELS,
        status=status,
    )


async def new_page(view: View) -> web.StreamResponse:
    """``GET /dashboard/webhooks/new``: the form of a new subscription."""
    return _form_page(view, WebhookForm())


async def create(view: View) -> web.StreamResponse:
    """``POST /dashboard/webhooks/new``: add it; its page shows a generated secret this once."""
    form = WebhookForm.read(view)
    errors: dict[str, str] = {}
    parsed: HeaderLines | None = None
    try:
        parsed = parse_header_lines(form.headers)
    except ConfigError as exc:
        errors["headers"] = _service_message(exc)
    if not form.url:
        errors["url"] = "Enter the receiver's URL."
    if not form.triggers:
        errors["triggers"] = "Choose at least one trigger."
    for name, message in _check(form, parsed).items():
        errors.setdefault(name, message)
    if errors or parsed is None:
        return _form_page(view, form, errors=errors, status=400)
    try:
        added = await add_subscription(
            view.ctx.webhooks,
            NewSubscription(
                url=form.url,
                triggers=form.triggers,
                models=form.models,
                headers=parsed.headers,
                secret=form.secret or None,
                paused=form.paused,
            ),
        )
    except ConfigError as exc:
        name = exc.field if exc.field in _FIELDS else "form"
        message = _service_message(exc)
        if name == "headers":
            message = _header_message(message, parsed)
        return _form_page(view, form, errors={name: message}, status=400)
    sub = added.subscription
    log.info("dashboard.webhook_added", subscription_id=sub.id, triggers=list(sub.triggers))
    if added.generated_secret is None:
        return view.redirect(
            webhook_url(sub.id),
            f"The webhook {sub.id} was added: it signs with the secret you gave",
        )
    # Rendered here rather than after a redirect: the secret never travels in a cookie
    # and no page that can be opened again shows it.
    return await _details(view, sub.id, secret=added.generated_secret)


# -- one subscription --------------------------------------------------------------


def _before(view: View) -> int | None:
    raw = view.request.query.get("before", "")
    return _event_id(raw) if raw else None


async def _details(
    view: View,
    subscription_id: str,
    *,
    secret: str | None = None,
    test: TestResult | None = None,
    errors: Mapping[str, str] | None = None,
    status: int = 200,
) -> web.Response:
    """The page of one subscription (with a new secret or a test's answer, when there is one)."""
    shown = await subscription_status(view.ctx.webhooks, subscription_id)
    before = _before(view) if view.form is None else None
    deliveries = await subscription_deliveries(
        view.ctx.webhooks, subscription_id, before=before, limit=LOG_PAGE_SIZE
    )
    return view.page(
        "webhook.html",
        title=f"Webhook {subscription_id} · syncd",
        status_of=shown,
        sub=shown.subscription,
        active=shown.subscription.state is SubscriptionState.ACTIVE,
        secret=secret,
        test=test,
        deliveries=deliveries,
        before=before,
        errors=dict(errors or {}),
        since_value=view.value("since"),
        status=status,
    )


async def details_page(view: View) -> web.StreamResponse:
    """``GET /dashboard/webhooks/{id}``: settings, actions, and the delivery log."""
    return await _details(view, _subscription_id(view))


def _pretty(data: Mapping[str, object]) -> str:
    return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False, default=str)


async def event_page(view: View) -> web.StreamResponse:
    """``GET /dashboard/webhooks/{id}/events/{event_id}``: one delivery and its every attempt."""
    subscription_id = _subscription_id(view)
    sub = (await subscription_status(view.ctx.webhooks, subscription_id)).subscription
    raw = view.request.match_info["event_id"]
    event_id = _event_id(raw)
    entry = await find_delivery_log(view.ctx.webhooks, event_id) if event_id else None
    delivery = None
    if entry is not None:
        delivery = next((d for d in entry.deliveries if d.subscription_id == sub.id), None)
    if entry is None or delivery is None:
        raise NotFound(f"no delivery of event {raw!r} to the webhook {sub.id}")
    return view.page(
        "webhook_event.html",
        title=f"{message_id(entry.event_id)} to {sub.id} · syncd",
        sub=sub,
        entry=entry,
        webhook_id=message_id(entry.event_id),
        delivery=delivery,
        replayable=delivery.status in (DeliveryStatus.DELIVERED, DeliveryStatus.DEAD),
        attempts=[a for a in entry.attempts if a.subscription_id == sub.id],
        body=_pretty(entry.event.data) if entry.event is not None else None,
    )


# -- actions -------------------------------------------------------------------------


async def send_test(view: View) -> web.StreamResponse:
    """``POST …/{id}/test``: a signed WEBHOOK_TEST message now; the page shows the answer."""
    subscription_id = _subscription_id(view)
    result = await send_test_message(view.ctx.webhooks, view.ctx.settings, subscription_id)
    log.info(
        "dashboard.webhook_tested",
        subscription_id=subscription_id,
        status=result.status,
        ok=result.ok,
    )
    # Rendered, not redirected: the answer's excerpt is longer than a flash message.
    return await _details(view, subscription_id, test=result)


async def _set_state(view: View, state: SubscriptionState) -> web.StreamResponse:
    subscription_id = _subscription_id(view)
    await set_subscription_state(view.ctx.webhooks, subscription_id, state)
    if state is SubscriptionState.ACTIVE:
        message = f"{subscription_id} is enabled: what queued up meanwhile goes out first"
    else:
        message = (
            f"{subscription_id} is disabled: its events queue up and go out when it is enabled"
        )
    return view.redirect(webhook_url(subscription_id), message)


async def enable(view: View) -> web.StreamResponse:
    """``POST …/{id}/enable``: deliver to it again."""
    return await _set_state(view, SubscriptionState.ACTIVE)


async def disable(view: View) -> web.StreamResponse:
    """``POST …/{id}/disable``: stop delivering (events keep queueing)."""
    return await _set_state(view, SubscriptionState.PAUSED)


async def delete(view: View) -> web.StreamResponse:
    """``POST …/{id}/delete``: remove it with its queued deliveries and their log."""
    subscription_id = _subscription_id(view)
    await remove_subscription(view.ctx.webhooks, subscription_id)
    return view.redirect(
        webhooks_url(),
        f"The webhook {subscription_id} was deleted with its queued deliveries and their log",
    )


def _since(raw: str) -> datetime:
    """A moment from the form (UTC when it names no zone); ConfigError (``since``)."""
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError:
        raise ConfigError("enter a date and time, as 2024-05-01T09:30", field="since") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


async def replay(view: View) -> web.StreamResponse:
    """``POST …/{id}/replay``: queue one event's delivery, the dead-lettered ones, or a range."""
    subscription_id = _subscription_id(view)
    back = local_path(view.value("back"), webhook_url(subscription_id))
    raw_event, raw_since = view.value("event_id"), view.value("since")
    event_id = _event_id(raw_event) if raw_event else None
    if raw_event and event_id is None:
        return view.redirect(back, f"{raw_event!r} names no event", "error")
    try:
        since = _since(raw_since) if raw_since else None
    except ConfigError as exc:
        return await _details(
            view, subscription_id, errors={"since": _service_message(exc)}, status=400
        )
    try:
        count = await replay_deliveries(
            view.ctx.webhooks,
            dead_only=view.value("dead_only") == "true",
            since=since,
            event_id=event_id,
            subscription_id=subscription_id,
        )
    except ConfigError as exc:
        return view.redirect(back, _service_message(exc), "error")
    log.info("dashboard.webhook_replayed", subscription_id=subscription_id, deliveries=count)
    if count == 0:
        return view.redirect(
            back,
            "Nothing was replayed: only delivered or dead-lettered deliveries are queued again "
            "(queued ones are on their way), and none matched",
            "error",
        )
    return view.redirect(
        back, f"{_plural(count, 'delivery', 'deliveries')} queued again for {subscription_id}"
    )


# "new" is the form of a new subscription, not a subscription.
_ONE = "/webhooks/{subscription_id:(?!new$)[^/]+}"

ROUTES: list[PageRoute] = [
    PageRoute("GET", "/webhooks", list_page),
    PageRoute("GET", "/webhooks/new", new_page),
    PageRoute("POST", "/webhooks/new", create),
    PageRoute("GET", _ONE, details_page),
    PageRoute("GET", _ONE + "/events/{event_id}", event_page),
    PageRoute("POST", _ONE + "/test", send_test),
    PageRoute("POST", _ONE + "/enable", enable),
    PageRoute("POST", _ONE + "/disable", disable),
    PageRoute("POST", _ONE + "/delete", delete),
    PageRoute("POST", _ONE + "/replay", replay),
]
