"""Which calls the batch lane takes, and where their results may be POSTed.

`X-Gateway-Mode` overrides the workload's `mode`: `batch` defers the call; `auto`, `stream` and
`sync` run it now, answered the way the request's own `stream` flag asks (the gateway never
changes the response format an SDK expects). `X-Gateway-Callback-Url` must name an allowed host.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.types import Scope

from gateway.api.asgi import header
from gateway.auth import Identity
from gateway.config import Settings
from gateway.errors import BadRequest

MODE_HEADER = b"x-gateway-mode"
CALLBACK_HEADER = b"x-gateway-callback-url"
_DEFERS = {b"batch": True, b"auto": False, b"stream": False, b"sync": False}


class Router:
    """Decides per call; `defers` is on every request's path, so it allocates nothing."""

    def __init__(self, settings: Settings) -> None:
        self._batch_workloads = frozenset(w.name for w in settings.workloads if w.mode == "batch")
        self._hosts = [_pattern(host) for host in settings.callback_allowed_hosts]

    def defers(self, identity: Identity, scope: Scope) -> bool:
        """Whether this call goes to the batch lane; a bad `X-Gateway-Mode` is a 400."""
        for name, value in scope["headers"]:
            if name == MODE_HEADER:
                return _mode(value)
        return identity.workload in self._batch_workloads

    def callback_url(self, scope: Scope) -> str | None:
        """The call's `X-Gateway-Callback-Url`, if any; a host not allowed is a 400."""
        raw = header(scope, CALLBACK_HEADER)
        if raw is None:
            return None
        url = raw.decode("latin-1").strip()
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise _callback_error(f"expected an http(s) URL, got {url!r}")
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError:
            raise _callback_error(f"{url!r} has an invalid port") from None
        if not any(_allows(pattern, parts.hostname.lower(), port) for pattern in self._hosts):
            raise _callback_error(
                f"host {parts.hostname!r} is not in the gateway's callback_allowed_hosts"
            )
        return url


def _mode(value: bytes) -> bool:
    defers = _DEFERS.get(value)
    if defers is None:
        defers = _DEFERS.get(value.strip().lower())
    if defers is None:
        raise BadRequest(
            "X-Gateway-Mode: expected one of stream, sync, batch, auto",
            param="X-Gateway-Mode",
        )
    return defers


def _callback_error(reason: str) -> BadRequest:
    return BadRequest(f"X-Gateway-Callback-Url: {reason}", param="X-Gateway-Callback-Url")


def _pattern(entry: str) -> tuple[str, int | None]:
    """`host`, `host:port`, `*.domain` or `[v6]:port` -> (host pattern, port or None)."""
    if entry.startswith("["):
        host, _, rest = entry[1:].partition("]")
        return host, int(rest[1:]) if rest.startswith(":") else None
    host, colon, port = entry.rpartition(":")
    return (host, int(port)) if colon else (entry, None)


def _allows(pattern: tuple[str, int | None], host: str, port: int) -> bool:
    allowed, allowed_port = pattern
    if allowed_port is not None and allowed_port != port:
        return False
    if allowed.startswith("*."):
        return host.endswith(allowed[1:])
    return host == allowed
