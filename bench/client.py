"""A lean HTTP/1.1 client for streamed chat completions: one asyncio Protocol per call.

Each call has its own connection, parsed with httptools (C, handles chunked bodies), so the
load generator spends a few microseconds per read and stamps every read as it arrives. A
content chunk is a non-empty `"content": "..."` string (in a chat.completion.chunk's delta; the
opening role chunk's empty content does not count); several may arrive in one read.
"""

from __future__ import annotations

import asyncio
import math
import re
import time

import httptools
import orjson

CONTENT = re.compile(rb'"content": ?"[^"]')  # an OpenAI chunk carrying text
ANTHROPIC_CONTENT = re.compile(rb'"text_delta", ?"text": ?"[^"]')  # an Anthropic text delta
PATTERNS = {"openai": CONTENT, "anthropic": ANTHROPIC_CONTENT}
TAIL = 16  # bytes kept from one read to the next, so a match split between reads is found


def chat_request(host: str, port: int, key: str, model: str, directive: str,
                 stream: bool = True, path: str | None = None, api: str = "openai") -> bytes:
    """The raw bytes of a chat request (OpenAI or Anthropic Messages) with a `[sim ...]` prompt."""
    message = {"role": "user", "content": f"Tell me a story. {directive}"}
    if api == "anthropic":
        body = orjson.dumps({"model": model, "stream": stream, "max_tokens": 4096,
                             "messages": [message]})
        path, auth = path or "/v1/messages", f"x-api-key: {key}"
    else:
        body = orjson.dumps({"model": model, "stream": stream, "messages": [message]})
        path, auth = path or "/v1/chat/completions", f"Authorization: Bearer {key}"
    head = (f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\n{auth}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n")
    return head.encode() + body


class Call(asyncio.Protocol):
    """One request on its own connection; `done` resolves when the connection is gone.

    Records: `started` (perf_counter before connecting), `status`, `chunk_times` (perf_counter
    of each content chunk, repeated when one read holds several), `complete` (the whole
    response arrived) and `closed_wall` (time.time() when this client closed it early).
    `first` resolves at the first content chunk, or when the connection is gone without one.
    `close_after` closes the connection as soon as that many content chunks have arrived.
    """

    def __init__(self, request: bytes, close_after: int | None = None,
                 pattern: re.Pattern[bytes] = CONTENT) -> None:
        self.request = request
        self.pattern = pattern
        self.close_after = close_after
        self.started = time.perf_counter()
        loop = asyncio.get_running_loop()
        self.done: asyncio.Future[None] = loop.create_future()
        self.first: asyncio.Future[None] = loop.create_future()
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.status: int | None = None
        self.chunk_times: list[float] = []
        self.complete = False
        self.closed_wall: float | None = None
        self.error: str | None = None
        self._tail = b""

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        transport.write(self.request)  # type: ignore[attr-defined]

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self.error = f"parse error: {exc}"
            self.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if exc is not None and self.error is None and self.closed_wall is None:
            self.error = str(exc)
        for future in (self.first, self.done):
            if not future.done():
                future.set_result(None)

    # httptools callbacks
    def on_headers_complete(self) -> None:
        self.status = self.parser.get_status_code()

    def on_body(self, body: bytes) -> None:
        now = time.perf_counter()
        data = self._tail + body
        last_end, count = 0, 0
        for match in self.pattern.finditer(data):
            last_end, count = match.end(), count + 1
        self._tail = data[max(last_end, len(data) - TAIL):]
        if count:
            if not self.chunk_times:
                self.first.set_result(None)
            self.chunk_times.extend([now] * count)
            if self.close_after is not None and len(self.chunk_times) >= self.close_after:
                self.close()

    def on_message_complete(self) -> None:
        self.complete = True
        if self.transport is not None:
            self.transport.close()

    def close(self) -> None:
        """Close the connection now, noting the wall-clock moment (the client gives up)."""
        if self.transport is not None and self.closed_wall is None and not self.complete:
            self.closed_wall = time.time()
            self.transport.close()

    @property
    def ttft(self) -> float | None:
        """Seconds from starting to connect to the first content chunk."""
        return self.chunk_times[0] - self.started if self.chunk_times else None


async def start(host: str, port: int, request: bytes, close_after: int | None = None,
                pattern: re.Pattern[bytes] = CONTENT) -> Call:
    """Connect and send `request`; connection errors are recorded on the returned call."""
    call = Call(request, close_after, pattern)
    try:
        await asyncio.get_running_loop().create_connection(lambda: call, host, port)
    except OSError as exc:
        call.error = f"connect: {exc}"
        call.connection_lost(None)
    return call


def percentile(values: list[float], q: float) -> float | None:
    """The q-th percentile (0-100) by nearest rank, or None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = min(len(ordered), max(1, math.ceil(q / 100 * len(ordered)))) - 1
    return ordered[rank]
