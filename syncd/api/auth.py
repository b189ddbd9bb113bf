"""Bearer API keys at the door: 401 without a valid key, 403 for a wrong scope, 429 over limit.

Every admitted answer carries ``x-ratelimit-limit`` and ``x-ratelimit-remaining``
(the reference unified API's headers); a refused one adds ``Retry-After``.
"""

from __future__ import annotations

from aiohttp import web

from syncd.api.context import Grant
from syncd.api.errors import ApiError
from syncd.services.keys import KeyRateLimiter, authenticate
from syncd.store.keys import SqlKeyStore

_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="syncd"'}


def _token(request: web.Request) -> str:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if not header:
        raise ApiError(
            401,
            "unauthorized",
            "an API key is required: Authorization: Bearer <key>",
            headers=dict(_CHALLENGE),
        )
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(
            401,
            "unauthorized",
            "the Authorization header must be 'Bearer <key>'",
            headers=dict(_CHALLENGE),
        )
    return token.strip()


class KeyGuard:
    """Admits requests carrying a live key of a sufficient scope, within its rate limit."""

    def __init__(self, keys: SqlKeyStore, limiter: KeyRateLimiter | None = None) -> None:
        self.keys = keys
        self.limiter = limiter or KeyRateLimiter()

    async def admit(self, request: web.Request, scope: str) -> Grant:
        """The grant for this request, or an :class:`ApiError` saying why not."""
        key = await authenticate(self.keys, _token(request))
        if key is None:
            raise ApiError(
                401, "unauthorized", "unknown or revoked API key", headers=dict(_CHALLENGE)
            )
        if scope == "admin" and key.scope != "admin":
            raise ApiError(
                403,
                "forbidden",
                f"this operation needs an admin key; this key's scope is {key.scope}",
            )
        verdict = self.limiter.hit(key)
        headers = verdict.headers()
        if not verdict.allowed:
            raise ApiError(
                429,
                "rate_limited",
                f"rate limit of {verdict.limit} requests per minute reached",
                headers=headers,
            )
        return Grant(key_id=key.id, scope=key.scope, headers=headers)
