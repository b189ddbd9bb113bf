"""The webhooks pages (being built)."""

from __future__ import annotations

from syncd.dashboard.app import PageRoute

ROUTES: list[PageRoute] = []
