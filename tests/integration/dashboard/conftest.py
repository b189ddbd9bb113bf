"""The dashboard served for real (inside the API's server), and a cookie-keeping client."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from api.conftest import Api, receiver, serving_api

from syncd.crypto import Cipher

from .helpers import Browser

__all__ = ["receiver"]  # the API tests' webhook receiver, a fixture here too


@pytest.fixture
async def api(database_url: str, cipher: Cipher, tmp_path: Path) -> AsyncIterator[Api]:
    """The server on one engine (runs once per engine)."""
    # Pages start data-access checks by themselves: none may leave this machine.
    async with serving_api(
        database_url, cipher, tmp_path, egress_allowed_hosts="127.0.0.1"
    ) as served:
        yield served


@pytest.fixture
async def browser(api: Api) -> AsyncIterator[Browser]:
    """A client that keeps cookies, as a browser does, not yet signed in."""
    # unsafe: the server is 127.0.0.1, and a default jar keeps no cookie of an IP host.
    jar = aiohttp.CookieJar(unsafe=True)
    async with aiohttp.ClientSession(
        cookie_jar=jar, timeout=aiohttp.ClientTimeout(total=60)
    ) as session:
        yield Browser(api.url, session)
