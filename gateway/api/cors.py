"""CORS for browser clients: preflights answered, actual responses marked (pure ASGI).

Installed only when `cors_allowed_origins` is set (off by default, so `OPTIONS` is a 405 and
nothing is added to any response). A preflight (`OPTIONS` with `Origin` and
`Access-Control-Request-Method`) from an allowed origin gets a 204 naming the methods and the
requested headers the gateway accepts; from any other origin a 403 without CORS headers.
Other requests pass through untouched but for two headers on the response start: the body is
never buffered or delayed, so streams still stream, and `http.disconnect` still reaches the
endpoints (no `BaseHTTPMiddleware`).
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

METHODS = b"GET, POST, DELETE, OPTIONS"
MAX_AGE = b"600"
ALLOWED_HEADERS = frozenset(
    {
        "authorization",
        "x-api-key",
        "content-type",
        "accept",
        "anthropic-version",
        "anthropic-beta",
        "anthropic-dangerous-direct-browser-access",
        "x-goog-api-key",
        "x-goog-api-client",
        "x-request-id",
        "idempotency-key",
    }
)
ALLOWED_PREFIXES = ("x-stainless-", "openai-", "x-gateway-")
EXPOSED = b", ".join(
    [
        b"x-gateway-request-id",
        b"retry-after",
        b"x-ratelimit-limit-requests",
        b"x-ratelimit-limit-tokens",
        b"x-ratelimit-remaining-requests",
        b"x-ratelimit-remaining-tokens",
        b"x-ratelimit-reset-requests",
        b"x-ratelimit-reset-tokens",
    ]
)


def accepted_headers(requested: bytes) -> bytes:
    """The names of `Access-Control-Request-Headers` the gateway reads, comma-separated."""
    names = [name.strip().lower() for name in requested.decode("latin-1").split(",")]
    kept = [n for n in names if n in ALLOWED_HEADERS or n.startswith(ALLOWED_PREFIXES)]
    return ", ".join(kept).encode("latin-1")


class CORSMiddleware:
    def __init__(self, app: ASGIApp, origins: list[str]) -> None:
        self.app = app
        self.any_origin = "*" in origins
        self.origins = frozenset(o.rstrip("/").encode("latin-1") for o in origins if o != "*")

    def allow_origin(self, origin: bytes) -> bytes | None:
        """The `Access-Control-Allow-Origin` value for `origin`, or None if not allowed."""
        if self.any_origin:
            return b"*"
        return origin if origin in self.origins else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        origin = requested = method = None
        for name, value in scope["headers"]:
            if name == b"origin":
                origin = value
            elif name == b"access-control-request-method":
                method = value
            elif name == b"access-control-request-headers":
                requested = value
        if origin is None:
            await self.app(scope, receive, send)
            return
        allowed = self.allow_origin(origin)
        if scope["method"] == "OPTIONS" and method is not None:
            await self._preflight(send, allowed, requested)
            return
        if allowed is None:
            await self.app(scope, receive, send)
            return
        extra = [(b"access-control-allow-origin", allowed), (b"vary", b"Origin")]
        extra.append((b"access-control-expose-headers", EXPOSED))

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), *extra]
            await send(message)

        await self.app(scope, receive, send_with_cors)

    async def _preflight(self, send: Send, allowed: bytes | None, requested: bytes | None) -> None:
        if allowed is None:
            headers = [(b"content-type", b"text/plain"), (b"content-length", b"23"),
                       (b"vary", b"Origin")]  # fmt: skip
            await send({"type": "http.response.start", "status": 403, "headers": headers})
            await send({"type": "http.response.body", "body": b"CORS origin not allowed"})
            return
        headers = [
            (b"access-control-allow-origin", allowed),
            (b"access-control-allow-methods", METHODS),
            (b"access-control-max-age", MAX_AGE),
            (b"vary", b"Origin"),
        ]
        if requested:
            headers.append((b"access-control-allow-headers", accepted_headers(requested)))
        await send({"type": "http.response.start", "status": 204, "headers": headers})
        await send({"type": "http.response.body", "body": b""})
