"""Every response body chunk and header value with the configured secrets masked.

Pure ASGI (a `BaseHTTPMiddleware` would hide `http.disconnect`). The mask keeps each chunk's
length, so a `content-length` stays true. On the hot path a chunk costs one `in` per secret;
only a hit copies it. Streams are relayed one whole SSE event per chunk, so a secret inside an
event is never split across chunks.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.redaction import Redactor


class ScrubMiddleware:
    def __init__(self, app: ASGIApp, redactor: Redactor) -> None:
        self.app = app
        self.redactor = redactor

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.redactor:
            await self.app(scope, receive, send)
            return
        pairs = self.redactor.pairs

        async def masked(message: Message) -> None:
            kind = message["type"]
            if kind == "http.response.body":
                body = message.get("body", b"")
                for secret, mask in pairs:
                    if secret in body:
                        body = body.replace(secret, mask)
                        message = {**message, "body": body}
            elif kind == "http.response.start":
                headers = message.get("headers", ())
                for secret, _ in pairs:
                    if any(secret in value for _, value in headers):
                        masked_headers = [(k, self.redactor.bytes(v)) for k, v in headers]
                        message = {**message, "headers": masked_headers}
                        break
            await send(message)

        await self.app(scope, receive, masked)
