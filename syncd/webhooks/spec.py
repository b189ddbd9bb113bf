"""Validation of what an operator asks a subscription to be (pydantic, at the edge)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from syncd.errors import ConfigError
from syncd.models import LINK_MODEL, MODELS
from syncd.store.webhook_base import EVENT_TYPES
from syncd.urls import check_http_url
from syncd.webhooks.signing import secret_key

#: Every model a subscription may filter on.
KNOWN_MODELS: tuple[str, ...] = (*sorted(MODELS), LINK_MODEL)

_TOKEN = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
#: Headers syncd sets itself on every delivery.
RESERVED_HEADERS = frozenset(
    {
        "webhook-id",
        "webhook-timestamp",
        "webhook-signature",
        "content-type",
        "content-length",
        "host",
        "transfer-encoding",
        "connection",
    }
)

#: The command-line option behind each field, for error messages.
_OPTION = {
    "url": "--url",
    "triggers": "--trigger",
    "models": "--model",
    "headers": "--header",
    "secret": "--secret",
}


class SubscriptionSpec(BaseModel):
    """A valid subscription request."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    url: str
    triggers: tuple[str, ...]
    models: tuple[str, ...] | None = None
    headers: dict[str, str] = {}
    secret: str | None = None

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        # One URL rule for every way a subscription comes in (CLI, HTTP API).
        return check_http_url(value)

    @field_validator("triggers")
    @classmethod
    def _triggers(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value:
            raise ValueError(f"give at least one trigger ({', '.join(EVENT_TYPES)})")
        unknown = [t for t in value if t not in EVENT_TYPES]
        if unknown:
            raise ValueError(f"unknown trigger {unknown[0]!r} (known: {', '.join(EVENT_TYPES)})")
        return tuple(dict.fromkeys(value))

    @field_validator("models")
    @classmethod
    def _models(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if not value:
            return None
        unknown = [m for m in value if m not in KNOWN_MODELS]
        if unknown:
            raise ValueError(f"unknown model {unknown[0]!r} (known: {', '.join(KNOWN_MODELS)})")
        return tuple(dict.fromkeys(value))

    @field_validator("headers")
    @classmethod
    def _headers(cls, value: dict[str, str]) -> dict[str, str]:
        for name, text in value.items():
            if not _TOKEN.match(name):
                raise ValueError(f"{name!r} is not a valid header name")
            if name.lower() in RESERVED_HEADERS:
                raise ValueError(f"{name!r} is set by syncd itself")
            if "\r" in text or "\n" in text:
                raise ValueError(f"the value of {name!r} contains a line break")
        return value

    @field_validator("secret")
    @classmethod
    def _secret(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                secret_key(value)
            except ConfigError as exc:
                # Only the reason: the value itself is never echoed.
                raise ValueError(str(exc).removeprefix("--secret: ")) from None
        return value


def parse_headers(pairs: Sequence[str]) -> dict[str, str]:
    """``Name=value`` arguments into a mapping; a malformed one is a :class:`ConfigError`."""
    headers: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            # Never echo the value: it may be a credential.
            raise ConfigError(f"{name.strip() or '?'!r}: expected NAME=VALUE", field="--header")
        headers[name.strip()] = value
    return headers


def subscription_spec(**fields: Any) -> SubscriptionSpec:
    """A validated :class:`SubscriptionSpec`; errors name the command-line option."""
    try:
        return SubscriptionSpec(**fields)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = str(err["loc"][0]) if err["loc"] else "?"
        cause = (err.get("ctx") or {}).get("error")
        message = str(cause) if cause is not None else err["msg"]
        raise ConfigError(message, field=_OPTION.get(field, field)) from None
