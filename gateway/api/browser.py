"""Open mode's guard against web pages: a keyless gateway on loopback must not be spendable by
a site the user happens to visit (cross-site requests, CORS-"simple" form posts, DNS
rebinding). Keyed calls never come here: a browser cannot send a key it does not know.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from starlette.types import Scope

from gateway.errors import BadRequest, PermissionDenied

LOOPBACK_NAMES = ("localhost",)
SAME_SITE_OK = (b"same-origin", b"none")  # Sec-Fetch-Site values that are not another site
FORM_TYPES = ("text/plain", "application/x-www-form-urlencoded")  # multipart stays: /v1/files


class CrossSiteRequest(PermissionDenied):
    code = "cross_site_request"


class HostNotAllowed(PermissionDenied):
    code = "host_not_allowed"


class UnsupportedMediaType(BadRequest):
    status = 415
    code = "unsupported_media_type"


def is_loopback(host: str) -> bool:
    """`localhost`, 127.0.0.0/8 or ::1 (brackets allowed)."""
    host = host.strip().lower().removeprefix("[").removesuffix("]")
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _host_name(authority: str) -> str:
    """`name` of `name:port`, `[v6]:port` or `name`."""
    if authority.startswith("["):
        return authority[: authority.find("]") + 1]
    return authority.rpartition(":")[0] if authority.count(":") == 1 else authority


class BrowserGuard:
    """Refuses what only a browser driven by another site would send (403, or 415)."""

    def __init__(self, allowed_hosts: list[str], allowed_origins: list[str]) -> None:
        self.allowed_hosts = set(allowed_hosts)  # lower case, as Settings keeps them
        self.allowed_origins = set(allowed_origins)

    def check(self, scope: Scope) -> None:
        headers = dict(scope["headers"])  # a browser sends each of these headers once
        host = headers.get(b"host")
        if host is not None:
            self._check_host(host.decode("latin-1").strip().lower())
        origin = headers.get(b"origin")
        if origin is not None:
            self._check_origin(origin.decode("latin-1").strip().lower().rstrip("/"))
        else:
            site = headers.get(b"sec-fetch-site")
            if site is not None and site.lower() not in SAME_SITE_OK:
                raise CrossSiteRequest(
                    f"a browser request from another site (Sec-Fetch-Site: "
                    f"{site.decode('latin-1')}) cannot use a gateway that has no API key"
                )
        if scope.get("method") == "POST":
            content_type = headers.get(b"content-type", b"").decode("latin-1")
            if content_type.partition(";")[0].strip().lower() in FORM_TYPES:
                raise UnsupportedMediaType(
                    f"content type {content_type.partition(';')[0]!r} is refused without an "
                    "API key (a web form could send it): send `application/json`"
                )

    def _check_host(self, authority: str) -> None:
        name = _host_name(authority)
        if is_loopback(name) or name in self.allowed_hosts or authority in self.allowed_hosts:
            return
        raise HostNotAllowed(
            f"Host {authority!r} is not a loopback name: a gateway with no API key answers "
            "only localhost, 127.0.0.1 and ::1 (or the names in `allowed_hosts`)"
        )

    def _check_origin(self, origin: str) -> None:
        if origin in self.allowed_origins:
            return
        try:
            parts = urlsplit(origin)
            hostname = parts.hostname
        except ValueError:  # e.g. `http://[::1`
            hostname = None
        if hostname and parts.scheme in ("http", "https") and is_loopback(hostname):
            return
        raise CrossSiteRequest(
            f"a browser request from origin {origin!r} cannot use a gateway that has no API "
            "key (add it to `cors_allowed_origins` if it is yours)"
        )
