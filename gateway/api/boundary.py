"""The one error boundary: an exception that escapes the app is a 500 in the caller's shape.

Pure ASGI, outermost of the gateway's own middlewares. The exception is logged once, with its
traceback, and not re-raised, so neither Starlette's ServerErrorMiddleware nor uvicorn logs it
again. A response already under way is ended cleanly instead.
"""

from __future__ import annotations

import contextlib
import logging

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.api import shapes
from gateway.api.request_id import REQUEST_ID_HEADER, SCOPE_KEY
from gateway.errors import GatewayError
from gateway.proxy import send_error

log = logging.getLogger("gateway")


class ErrorBoundary:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def watched_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, watched_send)
        except Exception:
            path = scope["path"]
            log.exception("unhandled error on %s %s", scope.get("method"), path)
            if started:
                with contextlib.suppress(Exception):  # the server may refuse a short body
                    await send({"type": "http.response.body", "body": b"", "more_body": False})
                return
            err = GatewayError("the gateway hit an internal error; the call was not completed")
            call_id = scope.get(SCOPE_KEY)
            if call_id is not None:
                err.headers[REQUEST_ID_HEADER.decode()] = call_id
            await send_error(send, err, shapes.for_path(path))
