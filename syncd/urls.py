"""The one rule for URLs an operator gives syncd (PMS base URLs, webhook receivers)."""

from __future__ import annotations

from urllib.parse import urlsplit

_PORT = "not a URL: its port must be a number from 1 to 65535"


def check_http_url(value: str, *, max_length: int = 2000) -> str:
    """``value`` if it is an absolute http(s) URL with a host; else ValueError saying why.

    The reasons never repeat the URL: a webhook URL often carries a token.
    """
    if not value:
        raise ValueError("empty URL")
    if any(c.isspace() or not c.isprintable() for c in value):
        raise ValueError("not a URL: it contains a space or a control character")
    if len(value) > max_length:
        raise ValueError(f"URL longer than {max_length:,} characters")
    try:
        parts = urlsplit(value)
    except ValueError:
        # An unclosed [IPv6] host.
        raise ValueError("not a URL: its host is malformed") from None
    try:
        port = parts.port
    except ValueError:
        raise ValueError(_PORT) from None
    if parts.scheme not in ("http", "https"):
        raise ValueError("not an http(s) URL: it must start with http:// or https://")
    if not parts.hostname:
        raise ValueError("no host in the URL")
    if port == 0:
        raise ValueError(_PORT)
    if parts.username is not None or parts.password is not None:
        raise ValueError("credentials do not belong in the URL")
    return value
