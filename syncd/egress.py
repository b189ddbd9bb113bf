"""Which hosts syncd may talk to: an operator's allow-list for PMS APIs and webhook receivers.

Empty means any host. With hosts named (``SYNCD_EGRESS_ALLOWED_HOSTS``), a
PMS request or a webhook delivery to any other host is refused before a
connection is opened, so an integration or a subscription created with a
stray URL cannot send data or credentials anywhere else.
"""

from __future__ import annotations

from collections.abc import Collection
from urllib.parse import urlsplit


def parse_hosts(value: str) -> tuple[str, ...]:
    """Host names from a comma-separated list (case-insensitive, blanks ignored)."""
    return tuple(h.strip().lower() for h in value.split(",") if h.strip())


def host_allowed(url: str, allowed: Collection[str]) -> bool:
    """Whether ``url``'s host is on ``allowed`` (always, when ``allowed`` is empty)."""
    if not allowed:
        return True
    host = (urlsplit(url).hostname or "").lower()
    return host in allowed
