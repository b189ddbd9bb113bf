"""Helpers of the API tests: a webhook receiver checking signatures, waiting on conditions."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import anyio
from aiohttp import web
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError


class Receiver:
    """An aiohttp endpoint that accepts only messages signed with one of its secrets."""

    def __init__(self) -> None:
        self.secrets: list[str] = []
        self.accepted: list[tuple[dict[str, str], dict[str, Any]]] = []
        self.forged = 0
        self.status = 204
        self.port = 0
        self._runner: web.AppRunner | None = None

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        headers = {k.lower(): v for k, v in request.headers.items()}
        for secret in self.secrets:
            try:
                payload = Webhook(secret).verify(body, headers)
            except WebhookVerificationError:
                continue
            self.accepted.append((headers, payload))
            return web.Response(status=self.status, text="thanks")
        self.forged += 1
        return web.Response(status=401, text="bad signature")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/hook", self.handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.2)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


async def wait_for(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        await anyio.sleep(0.02)
