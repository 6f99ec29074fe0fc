"""A lean Redis client for the limits: one pipelined connection speaking RESP2, for scripts.

redis-py spends about 80 µs of CPU per command (its pool, command objects and pure-Python
parser); admitting a limited call is one script call on the request path, so the limits talk
to Redis directly: commands are written at once and replies matched in order on a single
connection (about 35 µs a round trip on loopback). The rest of the gateway keeps redis-py.

`redis://[user:password@]host[:port][/db]` and `rediss://` (TLS) URLs are understood.
"""

from __future__ import annotations

import asyncio
import hashlib
import ssl
from collections import deque
from typing import Any
from urllib.parse import unquote, urlsplit

CRLF = b"\r\n"
_INCOMPLETE = object()


class RedisError(Exception):
    """An error reply from Redis, or the connection failing."""


def pack(args: tuple[Any, ...]) -> bytes:
    """A command as RESP: an array of bulk strings."""
    out = [b"*%d\r\n" % len(args)]
    for arg in args:
        data = arg if isinstance(arg, bytes) else str(arg).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(out)


def parse(buffer: bytes | bytearray, pos: int = 0) -> Any:
    """One reply starting at `pos`: `(value, end)`, or `_INCOMPLETE` if more bytes are needed.
    An error reply is a `RedisError` value."""
    end = buffer.find(CRLF, pos)
    if end < 0:
        return _INCOMPLETE
    kind, line = buffer[pos], bytes(buffer[pos + 1 : end])
    after = end + 2
    if kind == 0x3A:  # :
        return int(line), after
    if kind == 0x24:  # $
        size = int(line)
        if size < 0:
            return None, after
        if len(buffer) < after + size + 2:
            return _INCOMPLETE
        return bytes(buffer[after : after + size]), after + size + 2
    if kind == 0x2A:  # *
        count = int(line)
        if count < 0:
            return None, after
        items = []
        for _ in range(count):
            found = parse(buffer, after)
            if found is _INCOMPLETE:
                return _INCOMPLETE
            item, after = found
            items.append(item)
        return items, after
    if kind == 0x2B:  # +
        return line.decode(), after
    if kind == 0x2D:  # -
        return RedisError(line.decode(errors="replace")), after
    raise RedisError(f"unexpected reply type {chr(kind)!r}")


class _Connection(asyncio.Protocol):
    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.waiting: deque[asyncio.Future[Any]] = deque()
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer
        buffer += data
        pos = 0
        while self.waiting:
            try:
                found = parse(buffer, pos)
            except (RedisError, ValueError) as exc:
                self.fail(RedisError(f"unreadable reply from Redis: {exc}"))
                return
            if found is _INCOMPLETE:
                break
            value, pos = found
            future = self.waiting.popleft()
            if not future.done():  # a caller that timed out left its place in the line
                future.set_result(value)
        del buffer[:pos]

    def connection_lost(self, exc: Exception | None) -> None:
        self.fail(RedisError(f"the connection to Redis was lost ({exc or 'closed'})"))

    def fail(self, error: RedisError) -> None:
        self.closed = True
        while self.waiting:
            future = self.waiting.popleft()
            if not future.done():
                future.set_exception(error)
        if self.transport is not None:
            self.transport.close()

    def send(self, args: tuple[Any, ...]) -> asyncio.Future[Any]:
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        if self.closed or self.transport is None:
            future.set_exception(RedisError("the connection to Redis is closed"))
            return future
        self.waiting.append(future)
        self.transport.write(pack(args))
        return future


class Script:
    """A Lua script, called by its SHA1 (loaded again if Redis forgot it)."""

    def __init__(self, text: str) -> None:
        self.text = text.encode()
        self.sha = hashlib.sha1(self.text).hexdigest().encode()


class LeanRedis:
    def __init__(self, url: str, timeout: float = 2.0) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("redis", "rediss"):
            raise ValueError(f"unsupported Redis URL scheme {parts.scheme!r}")
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 6379
        self.ssl = ssl.create_default_context() if parts.scheme == "rediss" else None
        self.username = unquote(parts.username) if parts.username else None
        self.password = unquote(parts.password) if parts.password else None
        self.db = int(parts.path.strip("/") or 0)
        self.timeout = timeout
        self._connection: _Connection | None = None
        self._connecting = asyncio.Lock()

    async def call(self, *args: Any) -> Any:
        """Send one command and return its reply (raising an error reply)."""
        connection = self._connection
        if connection is None or connection.closed:
            connection = await self._connect()
        try:
            value = await asyncio.wait_for(connection.send(args), self.timeout)
        except TimeoutError:
            connection.fail(RedisError("Redis did not answer in time"))
            raise RedisError(f"Redis did not answer within {self.timeout}s") from None
        if isinstance(value, RedisError):
            raise value
        return value

    async def run(self, script: Script, *args: Any) -> Any:
        """EVALSHA with no keys (the scripts name their keys from a prefix argument)."""
        try:
            return await self.call(b"EVALSHA", script.sha, 0, *args)
        except RedisError as exc:
            if not str(exc).startswith("NOSCRIPT"):
                raise
        await self.call(b"SCRIPT", b"LOAD", script.text)
        return await self.call(b"EVALSHA", script.sha, 0, *args)

    async def _connect(self) -> _Connection:
        async with self._connecting:
            if self._connection is not None and not self._connection.closed:
                return self._connection
            loop = asyncio.get_running_loop()
            _, connection = await asyncio.wait_for(
                loop.create_connection(_Connection, self.host, self.port, ssl=self.ssl),
                self.timeout,
            )
            setup: list[tuple[Any, ...]] = []
            if self.password is not None:
                auth = (self.username, self.password) if self.username else (self.password,)
                setup.append((b"AUTH", *auth))
            if self.db:
                setup.append((b"SELECT", self.db))
            for command in setup:
                reply = await asyncio.wait_for(connection.send(command), self.timeout)
                if isinstance(reply, RedisError):
                    connection.fail(reply)
                    raise reply
            self._connection = connection
            return connection

    async def close(self) -> None:
        if self._connection is not None:
            self._connection.fail(RedisError("closed"))
            self._connection = None
