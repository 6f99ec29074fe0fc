"""A lean HTTP/1.1 client for the calls' POSTs to the providers: one request per pooled
keep-alive connection (`gateway.http1_pool`), the answer parsed by httptools (llhttp, the
parser uvicorn uses). This module is the wire: the request's head, a connection, an answer.

Why not aiohttp here: relaying a small call, aiohttp's request and response machinery cost
69-88 us of CPU per request on this machine, this client 21 us (20,000 POSTs at concurrency
20 to the simulator, one process, uvloop); at 3,500 calls/s that is a fifth of the gateway's
CPU. aiohttp stays for the batch lane's GETs and file uploads, off the hot path.

What it does and does not do:
- a request is written once and never resent (`gateway.upstream` says why);
- `Content-Length`, chunked and close-delimited answers; `Connection: close` honoured;
- a connection is reused only once its answer was read to the end, and retired after
  `keepalive` idle seconds (before the servers retire it themselves);
- timeouts: connecting (`connect_timeout`), a free connection under the limit
  (`pool_timeout`), and silence while an answer is awaited (`read_timeout`, one timer per
  request, re-armed only when it fires);
- flow control: a stream's unread body above `HIGH_WATER` pauses reading from the socket;
- no redirects, cookies, proxies, decompression or HTTP/2 (the providers' APIs need none, and
  the gateway asks for `accept-encoding: identity`).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Mapping
from functools import cache
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import httptools
from multidict import CIMultiDict, CIMultiDictProxy

if TYPE_CHECKING:
    from gateway.http1_pool import Pool

HIGH_WATER = 256 * 1024  # unread body bytes before reading from the socket pauses
LOW_WATER = 64 * 1024  # ... and resumes


class ConnectError(OSError):
    """The provider could not be reached (refused, unresolvable, TLS handshake failed)."""


class ResponseError(OSError):
    """The connection ended, or the provider's bytes were not HTTP, before the answer ended."""


class Origin:
    """Where a URL's requests go: scheme, host and port, and the request line's prefix."""

    __slots__ = ("host", "port", "tls", "host_header")

    def __init__(self, scheme: str, host: str, port: int | None) -> None:
        self.tls = scheme == "https"
        self.host = host
        self.port = port or (443 if self.tls else 80)
        default = port is None or port == (443 if self.tls else 80)
        name = f"[{host}]" if ":" in host else host
        self.host_header = name if default else f"{name}:{self.port}"


@cache
def split_url(url: str) -> tuple[Origin, bytes]:
    """(origin, request target) of an absolute http(s) URL, parsed once per URL."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"not an absolute http(s) URL: {url!r}")
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return Origin(parts.scheme, parts.hostname, parts.port), target.encode("ascii")


def request_head(origin: Origin, target: bytes, headers: Mapping[str, str],
                 length: int) -> bytes:
    """A POST's head. A header that could end the head early (CR or LF) is refused."""
    lines = [b"POST ", target, b" HTTP/1.1\r\nhost: ", origin.host_header.encode("ascii"),
             b"\r\n"]
    for name, value in headers.items():
        if "\r" in value or "\n" in value or "\r" in name or "\n" in name:
            raise ValueError(f"header {name!r} holds a line break")
        lines.append(f"{name}: {value}\r\n".encode())
    lines.append(b"content-length: %d\r\n\r\n" % length)
    return b"".join(lines)


class Response:
    """One answer: `status` and `headers` once its head arrived; the body by `read()` (all of
    it) or `readany()`/`iter_any()` (as it comes). `release()` hands a fully read connection
    back to its pool; `close()` drops it (an answer cut short must not be reused)."""

    __slots__ = ("status", "headers", "_connection", "_chunks", "_buffered", "_waiter",
                 "_done", "_error", "_whole")

    def __init__(self, connection: Connection, status: int,
                 headers: CIMultiDictProxy[str]) -> None:
        self.status = status
        self.headers = headers
        self._connection: Connection | None = connection
        self._chunks: deque[bytes] = deque()
        self._buffered = 0
        self._waiter: asyncio.Future[None] | None = None
        self._done = False
        self._error: BaseException | None = None
        self._whole = False  # read() waits for all of it: reading never pauses

    @property
    def content(self) -> Response:
        """The body as a stream (aiohttp's spelling, which the relay reads)."""
        return self

    def at_eof(self) -> bool:
        return self._done and not self._chunks

    async def read(self) -> bytes:
        """The whole body."""
        self._whole = True
        if self._connection is not None:
            self._connection.resume()
        while not self._done:
            await self._wait()
        if self._error is not None:
            raise self._error
        body = b"".join(self._chunks)
        self._chunks.clear()
        self._buffered = 0
        return body

    async def readany(self) -> bytes:
        """What has arrived of the body (waiting for some); b"" at its end."""
        while not self._chunks:
            if self._done:
                if self._error is not None:
                    raise self._error
                return b""
            await self._wait()
        chunk = self._chunks.popleft() if len(self._chunks) == 1 else b"".join(self._chunks)
        self._chunks.clear()
        self._took(len(chunk))
        return chunk

    async def take(self) -> bytes:
        """The whole body, the connection then back to the pool; a read cut short (the caller
        cancelled, the provider broke off) closes the connection instead."""
        try:
            body = await self.read()
        except BaseException:
            self.close()
            raise
        self.release()
        return body

    async def iter_any(self) -> AsyncIterator[bytes]:
        while chunk := await self.readany():
            yield chunk

    def release(self) -> None:
        """Back to the pool if the body was read to its end, else closed."""
        connection, self._connection = self._connection, None
        if connection is not None:
            if self.at_eof():
                connection.finished()
            else:
                connection.abort()

    def close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            connection.abort()

    async def _wait(self) -> None:
        if self._error is not None:
            raise self._error
        waiter = self._waiter = asyncio.get_running_loop().create_future()
        try:
            await waiter
        finally:
            self._waiter = None

    def _took(self, size: int) -> None:
        self._buffered -= size
        if self._connection is not None and self._buffered <= LOW_WATER:
            self._connection.resume()

    # fed by the connection
    def _body(self, data: bytes) -> None:
        self._chunks.append(data)
        self._buffered += len(data)
        if self._buffered > HIGH_WATER and not self._whole and self._connection is not None:
            self._connection.pause()
        self._wake()

    def _end(self, error: BaseException | None = None) -> None:
        if self._done:
            return
        self._done = True
        self._error = error
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            if self._error is not None and not self._chunks:
                waiter.set_exception(self._error)
            else:
                waiter.set_result(None)


class Connection(asyncio.Protocol):
    """One keep-alive connection: a request at a time, its answer parsed as it arrives."""

    def __init__(self, pool: Pool) -> None:
        self.pool: Pool | _Gone = pool  # GONE once counted out of it
        self.loop = pool.loop
        self.read_timeout = pool.read_timeout
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.closed = False
        self.idle_since = 0.0
        self.last_data = 0.0
        self.paused = False
        self._head: asyncio.Future[Response] | None = None
        self._response: Response | None = None
        self._headers: list[tuple[str, str]] = []
        self._framed = False  # Content-Length or chunked: the body's end is known
        self._complete = False
        self._keep_alive = False
        self._timer: asyncio.TimerHandle | None = None

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.last_data = self.loop.time()
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._fail(ResponseError("the provider switched protocols"))
        except httptools.HttpParserError as exc:
            self._fail(ResponseError(f"the provider's answer is not HTTP/1.1: {exc}"))

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._stop_timer()
        self.pool.lost(self)
        if (exc is None and self._response is not None and not self._complete
                and not self._framed):
            self._complete = True  # a close-delimited body ends with a clean close
            self._response._end()
            return
        self._fail(ResponseError("the provider closed the connection before its answer ended"))

    def pause_writing(self) -> None:  # a request body larger than the socket buffer
        pass

    def resume_writing(self) -> None:
        pass

    # httptools callbacks
    def on_message_begin(self) -> None:
        self._headers = []
        self._framed = False

    def on_header(self, name: bytes, value: bytes) -> None:
        key = name.decode("latin-1")
        if key.lower() in ("content-length", "transfer-encoding"):
            self._framed = True
        self._headers.append((key, value.decode("latin-1")))

    def on_headers_complete(self) -> None:
        status = self.parser.get_status_code()
        if status < 200:  # an interim answer (100 Continue, 103 Early Hints): the next head
            return
        response = Response(self, status, CIMultiDictProxy(CIMultiDict(self._headers)))
        self._response = response
        head = self._head
        if head is not None and not head.done():
            head.set_result(response)

    def on_body(self, body: bytes) -> None:
        if self._response is not None:
            self._response._body(body)

    def on_message_complete(self) -> None:
        if self._response is None:  # the end of an interim answer
            return
        self._complete = True
        self._keep_alive = self.parser.should_keep_alive()  # read here: llhttp resets after
        self._stop_timer()
        self._response._end()

    # the pool's side
    async def request(self, head: bytes, body: bytes) -> Response:
        """Send one request; the answer once its head arrived."""
        assert self.transport is not None
        self._complete = self._keep_alive = False
        self._response = None
        self._head = self.loop.create_future()
        self.last_data = self.loop.time()
        self._arm()
        self.transport.write(head + body if len(body) < 65536 else head)
        if len(body) >= 65536:
            self.transport.write(body)
        try:
            return await self._head
        except BaseException:
            self.abort()  # cut short (a timeout, the caller left): never reused
            raise
        finally:
            self._head = None

    def finished(self) -> None:
        """The answer was read to its end: reusable if both sides keep the connection."""
        self._response = None
        if self.closed or not self._complete or not self._keep_alive:
            self.abort()
            return
        self.resume()
        self.pool.put_back(self)

    def abort(self) -> None:
        self._fail(ResponseError("the answer was cut short"))

    def pause(self) -> None:
        if not self.paused and self.transport is not None and not self.closed:
            self.paused = True
            self.transport.pause_reading()

    def resume(self) -> None:
        if self.paused and self.transport is not None and not self.closed:
            self.paused = False
            self.last_data = self.loop.time()
            self.transport.resume_reading()

    def _fail(self, error: BaseException) -> None:
        head = self._head
        if head is not None and not head.done():
            head.set_exception(error)
        response = self._response
        if response is not None and not self._complete:
            self._complete = True
            response._end(error)
        if not self.closed:
            self.closed = True
            self._stop_timer()
            self.pool.lost(self)
            if self.transport is not None:
                self.transport.abort()

    # read_timeout: silence while an answer is awaited (a paused stream is not silent)
    def _arm(self) -> None:
        self._timer = self.loop.call_at(self.last_data + self.read_timeout, self._check)

    def _check(self) -> None:
        self._timer = None
        if self.closed or self._complete:
            return
        if self.paused:  # the reader is behind, not the provider: look again later
            self._timer = self.loop.call_later(self.read_timeout, self._check)
            return
        if self.loop.time() - self.last_data < self.read_timeout:
            self._arm()
            return
        self._fail(TimeoutError(f"no data for {self.read_timeout:g}s (read_timeout)"))

    def _stop_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


class _Gone:
    """The pool of a connection already accounted for as closed."""

    def lost(self, connection: Connection) -> None:
        pass

    def put_back(self, connection: Connection) -> None:
        connection.abort()


GONE = _Gone()
