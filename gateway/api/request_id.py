"""Pure ASGI middleware: give every request a call id and echo it as X-Gateway-Request-Id.

Pure ASGI (not `BaseHTTPMiddleware`) so `http.disconnect` still reaches the endpoints.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.ids import new_call_id

REQUEST_ID_HEADER = b"x-gateway-request-id"
SCOPE_KEY = "gateway.request_id"


def request_id(scope: Scope) -> str:
    """The call id of the request (set by `RequestIdMiddleware`)."""
    value = scope.get(SCOPE_KEY)
    if value is None:
        value = scope[SCOPE_KEY] = new_call_id()
    return value


class RequestIdMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        call_id = request_id(scope).encode()

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                headers.append((REQUEST_ID_HEADER, call_id))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_id)
