"""Who is signed in to the dashboard, and the CSRF check every form passes.

The session is the admin API key itself, kept in an HttpOnly,
SameSite=Strict cookie scoped to ``/dashboard``: no server-side session
table to expire or replicate across nodes, and revoking the key ends every
session it opened at the next request. Pages never put the key in a URL or
in the page, so scripts cannot read it.

Each form carries a CSRF token derived from the key (an HMAC, so a page
of another origin cannot compute it), and a POST whose ``Origin`` names
another host is refused even with a valid token. The sign-in form, which
has no key yet, uses a random double-submit token in its own cookie.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from urllib.parse import quote, unquote, urlsplit

from aiohttp import web

from syncd.services.keys import authenticate
from syncd.store.keys import ApiKey, KeyScope, SqlKeyStore

#: Where the dashboard lives; its cookies are scoped to it.
PREFIX = "/dashboard"
SESSION_COOKIE = "syncd_session"
SIGN_IN_COOKIE = "syncd_sign_in"
FLASH_COOKIE = "syncd_flash"
CSRF_FIELD = "csrf_token"

_CSRF_CONTEXT = b"syncd-dashboard-csrf-v1"


class SignInRequired(Exception):
    """The request carries no live admin key: the browser is sent to the sign-in page."""


class CsrfRefused(Exception):
    """A form came without the right CSRF token, or from another origin."""


@dataclass(frozen=True, slots=True)
class Session:
    """A signed-in viewer: the key's record and the token its forms carry."""

    key: ApiKey
    csrf_token: str


def csrf_token_for(secret: str) -> str:
    """The CSRF token of a session opened with the key ``secret``."""
    return hmac.new(secret.encode(), _CSRF_CONTEXT, hashlib.sha256).hexdigest()[:40]


def _secure(request: web.Request) -> bool:
    # Behind a TLS-terminating proxy the request itself is plain HTTP.
    return request.secure or request.headers.get("X-Forwarded-Proto", "") == "https"


def set_cookie(
    response: web.StreamResponse, request: web.Request, name: str, value: str, **extra: int
) -> None:
    """Set one of the dashboard's cookies: HttpOnly, SameSite=Strict, path /dashboard."""
    response.set_cookie(
        name,
        value,
        path=PREFIX,
        httponly=True,
        samesite="Strict",
        secure=_secure(request),
        **extra,  # type: ignore[arg-type]
    )


def clear_cookie(response: web.StreamResponse, name: str) -> None:
    """Remove one of the dashboard's cookies."""
    response.del_cookie(name, path=PREFIX)


async def admin_key(keys: SqlKeyStore, secret: str) -> ApiKey | None:
    """The live admin key ``secret`` is, or None."""
    key = await authenticate(keys, secret)
    if key is None or key.scope is not KeyScope.ADMIN:
        return None
    return key


async def current_session(request: web.Request, keys: SqlKeyStore) -> Session:
    """The viewer's session; SignInRequired without a live admin key."""
    secret = request.cookies.get(SESSION_COOKIE, "")
    key = await admin_key(keys, secret) if secret else None
    if key is None:
        raise SignInRequired
    return Session(key=key, csrf_token=csrf_token_for(secret))


def same_origin(request: web.Request) -> bool:
    """False when the browser says the request comes from another origin."""
    origin = request.headers.get("Origin")
    if origin is None or origin == "null":
        # Browsers send Origin on every cross-origin POST; its absence
        # means same-origin or a non-browser client (which the token stops).
        return origin is None
    return urlsplit(origin).netloc == request.host


def check_csrf(request: web.Request, form_token: str, expected: str) -> None:
    """Refuse a form (CsrfRefused) whose token is wrong or that comes from another origin."""
    if not same_origin(request):
        raise CsrfRefused("the form was sent from another site")
    if not expected or not hmac.compare_digest(form_token.encode(), expected.encode()):
        raise CsrfRefused("the form's security token is missing or out of date")


def new_sign_in_token() -> str:
    """A fresh double-submit token for the sign-in form."""
    return secrets.token_urlsafe(24)


# -- flash messages ------------------------------------------------------------


def flash(response: web.StreamResponse, request: web.Request, message: str, kind: str) -> None:
    """Show ``message`` (kind ``ok`` or ``error``) on the next page this browser opens."""
    set_cookie(response, request, FLASH_COOKIE, quote(f"{kind}:{message}"[:1500]))


def take_flash(request: web.Request) -> tuple[str, str] | None:
    """The (kind, message) left for this page, if any (the caller clears the cookie)."""
    raw = request.cookies.get(FLASH_COOKIE)
    if not raw:
        return None
    kind, _, message = unquote(raw).partition(":")
    return (kind if kind in {"ok", "error"} else "ok"), message
