"""Signing in with an admin API key, and out."""

from __future__ import annotations

import structlog
from aiohttp import web

from syncd.dashboard.app import KEYS, error_page, html_response, local_path, see_other
from syncd.dashboard.render import render
from syncd.dashboard.session import (
    CSRF_FIELD,
    PREFIX,
    SESSION_COOKIE,
    SIGN_IN_COOKIE,
    CsrfRefused,
    SignInRequired,
    admin_key,
    check_csrf,
    clear_cookie,
    csrf_token_for,
    current_session,
    new_sign_in_token,
    same_origin,
    set_cookie,
)
from syncd.services.keys import authenticate

log = structlog.get_logger(__name__)

HOME = PREFIX + "/integrations"


def _form(request: web.Request, *, error: str | None, status: int, next_path: str) -> web.Response:
    token = new_sign_in_token()
    html = render(
        "sign_in.html",
        {
            "title": "Sign in · syncd",
            "error": error,
            "next": next_path,
            "csrf_field": CSRF_FIELD,
            "csrf_token": token,
            "prefix": PREFIX,
        },
    )
    response = html_response(html, status)
    set_cookie(response, request, SIGN_IN_COOKIE, token)
    return response


async def sign_in_page(request: web.Request) -> web.StreamResponse:
    """The sign-in form (or the dashboard, for a viewer already signed in)."""
    next_path = local_path(request.query.get("next", ""), HOME)
    try:
        await current_session(request, request.app[KEYS])
    except SignInRequired:
        return _form(request, error=None, status=200, next_path=next_path)
    return see_other(next_path)


async def sign_in(request: web.Request) -> web.StreamResponse:
    """Check the key and open a session: the key goes into an HttpOnly cookie only."""
    form = await request.post()
    next_path = local_path(str(form.get("next", "")), HOME)
    expected = request.cookies.get(SIGN_IN_COOKIE, "")
    try:
        check_csrf(request, str(form.get(CSRF_FIELD, "")), expected)
    except CsrfRefused as exc:
        return _form(request, error=f"{exc}: try again.", status=403, next_path=next_path)
    secret = str(form.get("api_key", "")).strip()
    if not secret:
        return _form(request, error="Enter an API key.", status=400, next_path=next_path)
    keys = request.app[KEYS]
    key = await admin_key(keys, secret)
    if key is None:
        known = await authenticate(keys, secret)
        message = (
            f"This key's scope is {known.scope.value}: the dashboard needs an admin key."
            if known is not None
            else "Unknown or revoked API key."
        )
        log.info("dashboard.sign_in_refused", reason="scope" if known else "unknown")
        return _form(request, error=message, status=401, next_path=next_path)
    log.info("dashboard.signed_in", key_id=key.id, key_name=key.name)
    response = see_other(next_path)
    set_cookie(response, request, SESSION_COOKIE, secret)
    clear_cookie(response, SIGN_IN_COOKIE)
    return response


async def sign_out(request: web.Request) -> web.StreamResponse:
    """End the session (a POST from this site only: a link elsewhere cannot sign you out)."""
    form = await request.post()
    secret = request.cookies.get(SESSION_COOKIE, "")
    try:
        if secret:
            check_csrf(request, str(form.get(CSRF_FIELD, "")), csrf_token_for(secret))
        elif not same_origin(request):
            # Without a session there is no token to check: only the origin.
            raise CsrfRefused("the form was sent from another site")
    except CsrfRefused as exc:
        return error_page(403, f"Refused: {exc}.")
    response = see_other(f"{PREFIX}/sign-in")
    clear_cookie(response, SESSION_COOKIE)
    return response


async def home(_: web.Request) -> web.StreamResponse:
    """``/dashboard``: the integrations."""
    return see_other(HOME)


def install_sign_in(app: web.Application) -> None:
    """The routes that need no session."""
    app.router.add_get(PREFIX, home)
    app.router.add_get(PREFIX + "/", home)
    app.router.add_get(PREFIX + "/sign-in", sign_in_page)
    app.router.add_post(PREFIX + "/sign-in", sign_in)
    app.router.add_post(PREFIX + "/sign-out", sign_out)
