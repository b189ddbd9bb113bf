"""A small form-filling client for the dashboard: pages, CSRF tokens, redirects."""

from __future__ import annotations

import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp

_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@dataclass
class Page:
    """An answer: status, final URL, body."""

    status: int
    url: str
    html: str
    headers: Any = None

    @property
    def csrf(self) -> str:
        """The CSRF token of the page's forms."""
        found = _CSRF.search(self.html)
        assert found, self.html[:500]
        return found.group(1)


@dataclass
class Browser:
    """Requests with cookies kept; forms posted with the token of the last page read."""

    base: str
    session: aiohttp.ClientSession
    token: str = ""
    history: list[Page] = field(default_factory=list)

    async def get(self, path: str, *, follow: bool = True) -> Page:
        """GET a page (following redirects) and remember its CSRF token."""
        async with self.session.get(self.base + path, allow_redirects=follow) as r:
            page = Page(r.status, str(r.url), await r.text(), r.headers)
        found = _CSRF.search(page.html)
        if found:
            self.token = found.group(1)
        self.history.append(page)
        return page

    async def post(
        self,
        path: str,
        data: dict[str, str] | None = None,
        *,
        token: str | None = None,
        headers: dict[str, str] | None = None,
        follow: bool = True,
    ) -> Page:
        """POST a form with the current CSRF token (or ``token``)."""
        form = {"csrf_token": self.token if token is None else token, **(data or {})}
        async with self.session.post(
            self.base + path, data=form, headers=headers, allow_redirects=follow
        ) as r:
            page = Page(r.status, str(r.url), await r.text(), r.headers)
        found = _CSRF.search(page.html)
        if found:
            self.token = found.group(1)
        return page

    async def sign_in(self, key: str) -> Page:
        """Open the sign-in form and send ``key``."""
        await self.get("/dashboard/sign-in")
        return await self.post("/dashboard/sign-in", {"api_key": key})


async def wait_until(
    check: Callable[[], Awaitable[Any]], *, timeout: float = 60, what: str = "condition"
) -> Any:
    """Poll ``check`` until it returns something truthy; fail after ``timeout`` seconds."""
    import asyncio

    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = await check()
        if last:
            return last
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}; last: {last!r}")
