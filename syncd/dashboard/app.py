"""The dashboard's plumbing: its routes, the signed-in view a page gets, static assets.

Every page handler takes a :class:`View` (the request, the API context, the
viewer's session and, for a POST, its CSRF-checked form) and answers HTML.
Pages call the same services as the CLI and the HTTP API; nothing here
holds a business rule. A viewer without a live admin key is sent to sign
in; a form without the right CSRF token is refused with 403.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from importlib import resources
from typing import Any
from urllib.parse import quote, urlsplit

import structlog
from aiohttp import web
from multidict import MultiDictProxy

from syncd.api.context import API_CONTEXT, ApiContext
from syncd.dashboard.render import render
from syncd.dashboard.session import (
    CSRF_FIELD,
    FLASH_COOKIE,
    PREFIX,
    CsrfRefused,
    Session,
    SignInRequired,
    check_csrf,
    clear_cookie,
    current_session,
    flash,
    take_flash,
)
from syncd.errors import IntegrationNotFound, NotFound, SubscriptionNotFound
from syncd.store.keys import SqlKeyStore

log = structlog.get_logger(__name__)

KEYS = web.AppKey("syncd_dashboard_keys", SqlKeyStore)

#: Forms are small; a larger body is refused before it is read.
MAX_FORM_BYTES = 64 * 1024

_SECURITY_HEADERS = {
    # Every asset is our own: no inline script, no other origin, no framing.
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


@dataclass(slots=True)
class View:
    """What a page handler works with."""

    request: web.Request
    ctx: ApiContext
    session: Session
    #: The POSTed form (None for a GET).
    form: MultiDictProxy[str] | None = None

    def value(self, name: str, default: str = "") -> str:
        """One field of the form, stripped ('' when absent)."""
        if self.form is None:
            return default
        raw = self.form.get(name, default)
        return raw.strip() if isinstance(raw, str) else default

    def page(self, template: str, *, status: int = 200, **values: Any) -> web.Response:
        """A whole page: ``template`` with the layout's values (session, flash message)."""
        notice = take_flash(self.request)
        values.setdefault("title", "syncd")
        html = render(
            template,
            self._values(key=self.session.key, notice=notice, path=self.request.path, **values),
        )
        response = html_response(html, status)
        if notice is not None:
            clear_cookie(response, FLASH_COOKIE)
        return response

    def fragment(self, template: str, **values: Any) -> web.Response:
        """A part of a page, for the script that refreshes live sections."""
        return html_response(render(template, self._values(**values)))

    def _values(self, **values: Any) -> dict[str, Any]:
        """What every template of a signed-in viewer gets, plus ``values``."""
        return {
            "csrf_field": CSRF_FIELD,
            "csrf_token": self.session.csrf_token,
            "prefix": PREFIX,
            **values,
        }

    def redirect(self, path: str, message: str | None = None, kind: str = "ok") -> web.Response:
        """See other page (after a form), optionally with a message to show there."""
        response = see_other(path)
        if message:
            flash(response, self.request, message, kind)
        return response


def see_other(path: str) -> web.Response:
    """A 303 to another page of the dashboard."""
    return web.Response(status=303, headers={"Location": path, "Cache-Control": "no-store"})


def html_response(html: str, status: int = 200) -> web.Response:
    """An HTML answer with the dashboard's security headers."""
    return web.Response(
        text=html, status=status, content_type="text/html", charset="utf-8",
        headers=_SECURITY_HEADERS,
    )  # fmt: skip


PageHandler = Callable[[View], Awaitable[web.StreamResponse]]


@dataclass(frozen=True, slots=True)
class PageRoute:
    """One dashboard route: method, path under ``/dashboard`` and handler."""

    method: str
    path: str
    handler: PageHandler


def local_path(target: str, fallback: str) -> str:
    """``target`` if it is a path of the dashboard, else ``fallback`` (no open redirects)."""
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not parts.path.startswith(PREFIX + "/"):
        return fallback
    return parts.path + (f"?{parts.query}" if parts.query else "")


def _wrap(route: PageRoute) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def handle(request: web.Request) -> web.StreamResponse:
        ctx = request.app[API_CONTEXT]
        try:
            session = await current_session(request, request.app[KEYS])
        except SignInRequired:
            if request.method == "GET" and "fragment" not in request.query:
                back = quote(request.path_qs, safe="")
                return see_other(f"{PREFIX}/sign-in?next={back}")
            return error_page(401, "Your session has ended: sign in again.")
        view = View(request=request, ctx=ctx, session=session)
        if request.method == "POST":
            if (request.content_length or 0) > MAX_FORM_BYTES:
                return error_page(413, "The form is too large.")
            view.form = await request.post()  # type: ignore[assignment]
            try:
                check_csrf(request, view.value(CSRF_FIELD), session.csrf_token)
            except CsrfRefused as exc:
                log.warning("dashboard.csrf_refused", path=request.path, reason=str(exc))
                return error_page(403, f"Refused: {exc}. Reload the page and try again.")
        try:
            return await route.handler(view)
        except (IntegrationNotFound, NotFound, SubscriptionNotFound) as exc:
            return error_page(404, str(exc) or "Not found.")
        except web.HTTPException:
            raise
        except Exception as exc:
            log.exception("dashboard.unhandled_error", path=request.path, error=repr(exc))
            return error_page(500, "Something went wrong on the server; the log says what.")

    return handle


def error_page(status: int, message: str) -> web.Response:
    """A plain page saying what went wrong."""
    html = render("error.html", {"status": status, "message": message, "prefix": PREFIX})
    return html_response(html, status)


# -- static assets ---------------------------------------------------------------

_TYPES = {".css": "text/css", ".js": "text/javascript", ".svg": "image/svg+xml"}


@dataclass(frozen=True, slots=True)
class _Asset:
    body: bytes
    content_type: str
    etag: str


def _assets() -> dict[str, _Asset]:
    found: dict[str, _Asset] = {}
    for entry in resources.files("syncd.dashboard").joinpath("static").iterdir():
        suffix = "." + entry.name.rpartition(".")[2]
        if entry.is_file() and suffix in _TYPES:
            body = entry.read_bytes()
            etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
            found[entry.name] = _Asset(body, _TYPES[suffix], etag)
    return found


def _static_handler(assets: dict[str, _Asset]) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def static(request: web.Request) -> web.Response:
        asset = assets.get(request.match_info["name"])
        if asset is None:
            raise web.HTTPNotFound
        headers = {"ETag": asset.etag, "Cache-Control": "public, max-age=3600"}
        if request.headers.get("If-None-Match") == asset.etag:
            return web.Response(status=304, headers=headers)
        return web.Response(body=asset.body, content_type=asset.content_type, headers=headers)

    return static


def install_dashboard(app: web.Application, routes: Iterable[PageRoute]) -> None:
    """Serve the dashboard's pages and assets from ``app`` (whose API context it uses)."""
    app[KEYS] = SqlKeyStore(app[API_CONTEXT].store.engine)
    app.router.add_get(PREFIX + "/static/{name}", _static_handler(_assets()))
    for route in routes:
        app.router.add_route(route.method, PREFIX + route.path, _wrap(route))

    async def not_found(_: web.Request) -> web.Response:
        # A person followed a stale link: answer a page, not the API's JSON.
        return error_page(404, "There is no such page.")

    # Last: only what no route above matched.
    app.router.add_route("*", PREFIX + "/{tail:.*}", not_found)
