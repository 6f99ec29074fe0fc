"""Open mode's browser guard: Host (DNS rebinding), Origin, Sec-Fetch-Site, form types."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.api.browser import (
    BrowserGuard,
    CrossSiteRequest,
    HostNotAllowed,
    UnsupportedMediaType,
    is_loopback,
)
from gateway.errors import GatewayError

GUARD = BrowserGuard(["gateway.internal", "box.lan:8443"], ["https://app.example"])


def scope(method: str = "POST", **headers: str) -> dict[str, Any]:
    raw = [(k.replace("_", "-").encode(), v.encode()) for k, v in headers.items()]
    return {"type": "http", "method": method, "headers": raw}


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"host": "127.0.0.1:8080", "content_type": "application/json"},
        {"host": "localhost"},
        {"host": "LOCALHOST:1"},
        {"host": "[::1]:8080"},
        {"host": "127.5.5.5:80"},
        {"host": "gateway.internal:9000"},
        {"host": "box.lan:8443"},
        {"origin": "http://localhost:3000"},
        {"origin": "https://127.0.0.1"},
        {"origin": "http://[::1]:5173", "sec_fetch_site": "same-site"},
        {"origin": "https://app.example/", "sec_fetch_site": "cross-site"},
        {"sec_fetch_site": "same-origin"},
        {"sec_fetch_site": "none"},
        {"content_type": "multipart/form-data; boundary=x"},
        {"content_type": "application/json; charset=utf-8"},
    ],
)
def test_passes(headers: dict[str, str]) -> None:
    GUARD.check(scope(**headers))


@pytest.mark.parametrize(
    ("headers", "error"),
    [
        ({"host": "evil.example"}, HostNotAllowed),
        ({"host": "evil.example:8080"}, HostNotAllowed),
        ({"host": "localhost.evil.example"}, HostNotAllowed),
        ({"host": "box.lan:9999"}, HostNotAllowed),  # listed with another port
        ({"host": "[::2]:80"}, HostNotAllowed),
        ({"origin": "https://evil.example"}, CrossSiteRequest),
        ({"origin": "null"}, CrossSiteRequest),
        ({"origin": "file://"}, CrossSiteRequest),
        ({"origin": "ftp://localhost"}, CrossSiteRequest),
        ({"origin": "http://[::1"}, CrossSiteRequest),
        ({"origin": "https://app.example.evil"}, CrossSiteRequest),
        ({"sec_fetch_site": "cross-site"}, CrossSiteRequest),
        ({"sec_fetch_site": "same-site"}, CrossSiteRequest),
        ({"content_type": "text/plain;charset=UTF-8"}, UnsupportedMediaType),
        ({"content_type": "Application/X-WWW-Form-Urlencoded"}, UnsupportedMediaType),
    ],
)
def test_refuses(headers: dict[str, str], error: type[GatewayError]) -> None:
    with pytest.raises(error) as refused:
        GUARD.check(scope(**headers))
    assert refused.value.status in (403, 415)


def test_form_types_matter_only_for_posts() -> None:
    GUARD.check(scope("GET", content_type="text/plain"))


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("127.0.0.1", True), ("127.255.0.1", True), ("::1", True), ("[::1]", True),
     ("localhost", True), ("0.0.0.0", False), ("::", False), ("192.168.1.2", False),
     ("localhost.example", False), ("", False)],
)
def test_is_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback
