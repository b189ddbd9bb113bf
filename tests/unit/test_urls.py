"""The URL rule shared by PMS base URLs and webhook receivers."""

from __future__ import annotations

import pytest

from syncd.urls import check_http_url


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://exa mple.com/hook", "contains a space"),
        ("http://example.com/\thook", "contains a space or a control character"),
        ("ftp://example.com/x", "not an http(s) URL"),
        ("notaurl", "not an http(s) URL"),
        ("http://", "no host"),
        ("https:///path", "no host"),
        ("http://example.com:99999/", "port must be a number from 1 to 65535"),
        ("http://example.com:0/", "port must be a number from 1 to 65535"),
        ("http://example.com:http/", "port must be a number from 1 to 65535"),
        ("http://[::1/", "host is malformed"),
        ("https://user:pw@example.com/", "credentials do not belong in the URL"),
        ("", "empty URL"),
    ],
)
def test_refused_urls_say_why_without_repeating_the_url(url: str, reason: str) -> None:
    with pytest.raises(ValueError) as err:
        check_http_url(url)
    assert reason in str(err.value)
    if url:
        assert url not in str(err.value)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8099",
        "https://api.buildium.com",
        "https://[::1]:8443/hooks?x=1",
        "http://receiver:65535/path",
    ],
)
def test_accepted_urls(url: str) -> None:
    assert check_http_url(url) == url


def test_length_limit() -> None:
    with pytest.raises(ValueError, match="longer than 500"):
        check_http_url("https://example.com/" + "a" * 500, max_length=500)
