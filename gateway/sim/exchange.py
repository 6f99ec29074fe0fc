"""One HTTP exchange over raw ASGI: body, headers, responses, and disconnect watching."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
Headers = Iterable[tuple[bytes, bytes]]

JSON_HEADERS = ((b"content-type", b"application/json"),)
SSE_HEADERS = (
    (b"content-type", b"text/event-stream"),
    (b"cache-control", b"no-cache"),
)


class ClientGone(Exception):
    """The client closed the connection before the response was finished."""


class Exchange:
    """A request being answered; knows when the client went away."""

    __slots__ = ("scope", "receive", "send", "closed_at", "_guarded")

    def __init__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.scope = scope
        self.receive = receive
        self.send = send
        self.closed_at: float | None = None
        self._guarded: asyncio.Task[Any] | None = None

    def header(self, name: bytes) -> str | None:
        """The value of request header `name` (lower case), or None."""
        for key, value in self.scope["headers"]:
            if key == name:
                return value.decode("latin-1")
        return None

    async def read_body(self) -> bytes:
        """The whole request body; raises ClientGone if the client leaves first."""
        message = await self.receive()
        if message["type"] != "http.request":
            raise self._gone()
        body = message.get("body", b"")
        if not message.get("more_body", False):
            return body
        parts = [body]
        while True:
            message = await self.receive()
            if message["type"] != "http.request":
                raise self._gone()
            parts.append(message.get("body", b""))
            if not message.get("more_body", False):
                return b"".join(parts)

    async def respond(self, status: int, body: bytes, headers: Headers = JSON_HEADERS) -> None:
        """Send a complete response."""
        length = (b"content-length", str(len(body)).encode())
        await self._send(
            {"type": "http.response.start", "status": status, "headers": [*headers, length]}
        )
        await self._send({"type": "http.response.body", "body": body})

    async def open_stream(self) -> None:
        """Send the headers of a 200 event stream."""
        await self._send({"type": "http.response.start", "status": 200, "headers": SSE_HEADERS})

    async def write(self, chunk: bytes) -> None:
        """Send one piece of an open stream."""
        await self._send({"type": "http.response.body", "body": chunk, "more_body": True})

    async def end(self, chunk: bytes = b"") -> None:
        """Send the last piece of an open stream."""
        await self._send({"type": "http.response.body", "body": chunk})

    async def guard(self, work: Coroutine[Any, Any, None]) -> bool:
        """Run `work` until it ends (True) or the client disconnects, which cancels it (False)."""
        task = asyncio.current_task()
        assert task is not None
        self._guarded = task
        watcher = asyncio.get_running_loop().create_task(self._watch())
        try:
            await work
            return True
        except asyncio.CancelledError:
            if self.closed_at is None:
                raise
            task.uncancel()
            return False
        except ClientGone:
            return False
        finally:
            self._guarded = None
            watcher.cancel()

    async def _watch(self) -> None:
        while (await self.receive())["type"] != "http.disconnect":
            pass
        task = self._guarded
        if task is not None:
            self.closed_at = time.time()
            task.cancel()

    async def _send(self, message: Message) -> None:
        try:
            await self.send(message)
        except OSError:
            raise self._gone() from None

    def _gone(self) -> ClientGone:
        if self.closed_at is None:
            self.closed_at = time.time()
        return ClientGone()
