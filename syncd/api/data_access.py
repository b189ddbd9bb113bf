"""The data-access operations of the /v1 admin API."""

from __future__ import annotations

from syncd.api.routing import Route

ROUTES: list[Route] = []
