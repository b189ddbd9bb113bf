"""The jobs operations of the /v1 API."""

from __future__ import annotations

from syncd.api.routing import Route

ROUTES: list[Route] = []
