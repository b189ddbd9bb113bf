"""What the API's handlers work with: the stores, the settings and the key guard."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from aiohttp import web

if TYPE_CHECKING:
    from syncd.api.background import BackgroundWork
    from syncd.settings import Settings
    from syncd.store.sql import SqlStore
    from syncd.store.webhooks import SqlWebhookStore


@dataclass(frozen=True, slots=True)
class Grant:
    """An admitted request: whose key, its scope, and the rate-limit headers to send."""

    key_id: str
    scope: str
    headers: Mapping[str, str]


class Guard(Protocol):
    """Admits a request to an operation of ``scope`` or raises an ``ApiError`` (401/403/429)."""

    async def admit(self, request: web.Request, scope: str) -> Grant:
        """The grant for this request's key."""
        ...


@dataclass(slots=True)
class ApiContext:
    """Shared by every handler of one application."""

    store: SqlStore
    webhooks: SqlWebhookStore
    settings: Settings
    guard: Guard
    #: Work that outlives a request (None: the server runs none; such routes answer 503).
    background: BackgroundWork | None = None
    #: Called when a write job was queued (wakes this process's write worker).
    writes_queued: Callable[[], None] | None = None


API_CONTEXT = web.AppKey("syncd_api_context", ApiContext)
