"""Bounded request bodies on every route, enforced before any parsing or auth (pure ASGI).

A declared `content-length` over the route's limit is a 413 at once, without reading a byte;
a body without one is counted as it arrives and `receive` itself raises at the limit (the
endpoints render GatewayError; FastAPI's body-read HTTPException keeps it as its cause).
While the body is being read each `receive()` waits at most about `client_body_timeout`
(408); one sweeper task checks the waiting reads, so no request arms a timer of its own.
Once the body is complete `receive` is the server's own again: the disconnect watcher waits
on it for the whole call. A NUL in the path or query is a 400: no stored text may hold one.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.api import shapes
from gateway.api.asgi import header
from gateway.batch.batch_api import FileTooLarge
from gateway.config import Settings
from gateway.defaults import SIM_MOUNT
from gateway.errors import BadRequest, PayloadTooLarge, RequestTimeout
from gateway.proxy import send_error

# The proxied APIs take `max_body_bytes`; /v1/responses is listed ahead of its route.
PROXY_PATHS = frozenset(
    {"/v1/chat/completions", "/v1/completions", "/v1/embeddings", "/v1/messages", "/v1/responses"}
)
FILES_PATH = "/v1/files"
FORM_OVERHEAD = 64 * 1024  # multipart headers and boundaries around an uploaded file
SMALL_BODY_BYTES = 64 * 1024  # every other route: admin, keys, batches, ...
CLOSE = {"connection": "close"}  # a refused body may still be arriving: do not read it


@dataclass(frozen=True, slots=True)
class BodyLimit:
    bytes: int
    setting: str  # named in the error, so an operator knows what to raise
    error: type[PayloadTooLarge] = PayloadTooLarge

    def exceeded(self, declared: int | None = None) -> PayloadTooLarge:
        size = f"is {declared} bytes" if declared is not None else "exceeds the limit"
        param = "file" if self.error is FileTooLarge else None
        return self.error(
            f"the request body {size}; the limit is {self.bytes} bytes ({self.setting})",
            param=param, headers=CLOSE,
        )


class BodyLimits:
    """The body limit and read timeout of each route, and the NUL check on path and query."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.slow = SlowBodies(settings.client_body_timeout)
        self.proxy = BodyLimit(settings.max_body_bytes, "max_body_bytes")
        self.files = BodyLimit(
            settings.batch_file_max_bytes + FORM_OVERHEAD, "batch_file_max_bytes", FileTooLarge
        )
        self.small = BodyLimit(SMALL_BODY_BYTES, "fixed for this route")

    def limit_for(self, path: str) -> BodyLimit:
        if path in PROXY_PATHS or path.startswith(SIM_MOUNT + "/"):
            return self.proxy
        return self.files if path == FILES_PATH else self.small

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        if "\x00" in path or b"%00" in scope["query_string"]:
            where = "path" if "\x00" in path else "query"
            err = BadRequest(f"the request {where} contains a NUL character", param=where)
            await send_error(send, err, shapes.for_path(path))
            return
        limit = self.limit_for(path)
        declared = header(scope, b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit.bytes:
            await send_error(send, limit.exceeded(int(declared)), shapes.for_path(path))
            return
        await self.app(scope, BoundedBody(receive, limit, self.slow), send)


class SlowBodies:
    """The body reads waiting on their client, and one sweeper task (alive while reads come
    in) that cuts those waiting longer than `timeout`, give or take a tick."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self.tick = min(max(timeout / 4, 0.005), 1.0)
        self.waiting: dict[BoundedBody, float] = {}  # -> when it began to wait (loop time)
        self.sweeper: asyncio.Task[None] | None = None

    def begin(self, body: BoundedBody) -> None:
        loop = asyncio.get_running_loop()
        self.waiting[body] = loop.time()
        if self.sweeper is None:
            self.sweeper = loop.create_task(self._sweep(), name="slow-body-sweeper")

    def end(self, body: BoundedBody) -> None:
        self.waiting.pop(body, None)

    async def _sweep(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while True:
                await asyncio.sleep(self.tick)
                if not self.waiting:
                    return  # idle: the next read starts a new sweeper
                started_before = loop.time() - self.timeout
                for body, since in list(self.waiting.items()):
                    if since <= started_before:
                        body.expire()
        finally:
            self.sweeper = None


class BoundedBody:
    """`receive`, counting and timing the body's pieces until the last one has arrived."""

    __slots__ = ("receive", "limit", "slow", "size", "complete", "task", "expired")

    def __init__(self, receive: Receive, limit: BodyLimit, slow: SlowBodies) -> None:
        self.receive = receive
        self.limit = limit
        self.slow = slow
        self.size = 0
        self.complete = False
        self.task: asyncio.Task[object] | None = None
        self.expired = False

    def expire(self) -> None:
        """The client took too long: cut the read (the task waits in `receive`)."""
        self.slow.end(self)
        if self.task is not None:
            self.expired = True
            self.task.cancel()

    async def __call__(self) -> Message:
        if self.complete:
            return await self.receive()
        self.task = asyncio.current_task()
        self.slow.begin(self)
        try:
            message = await self.receive()
        except asyncio.CancelledError:
            if not self.expired:
                raise
            self.task.uncancel()  # type: ignore[union-attr]
            raise RequestTimeout(
                f"the request body did not arrive within {self.slow.timeout:g}s "
                "(client_body_timeout)", headers=CLOSE,
            ) from None
        finally:
            self.slow.end(self)
        if message["type"] != "http.request":
            self.complete = True
            return message
        self.size += len(message.get("body", b""))
        if self.size > self.limit.bytes:
            raise self.limit.exceeded()
        if not message.get("more_body", False):
            self.complete = True
        return message

