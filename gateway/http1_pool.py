"""The lean client's pool (`gateway.http1`): keep-alive connections to one origin, at most
`limit` open at once, a free one waited for at most `pool_timeout`."""

from __future__ import annotations

import asyncio
import ssl
from collections import deque
from collections.abc import Mapping
from functools import cache

from gateway.http1 import GONE, ConnectError, Connection, Origin, Response, request_head


class PoolTimeout(TimeoutError):
    """No connection came free under the pool's limit within `pool_timeout`."""


@cache
def tls_context() -> ssl.SSLContext:
    """The system's trust store, loaded once for every pool (loading it takes milliseconds)."""
    return ssl.create_default_context()


class Pool:
    """Keep-alive connections to one origin, at most `limit` open at once (idle ones count)."""

    def __init__(self, origin: Origin, *, limit: int, connect_timeout: float,
                 pool_timeout: float, read_timeout: float, keepalive: float) -> None:
        self.origin = origin
        self.limit = limit
        self.connect_timeout = connect_timeout
        self.pool_timeout = pool_timeout
        self.read_timeout = read_timeout
        self.keepalive = keepalive
        self.loop = asyncio.get_running_loop()
        self.open = 0  # connections open or being opened
        self._idle: deque[Connection] = deque()  # most recently used last
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._ssl = tls_context() if origin.tls else None
        self._closed = False

    @property
    def saturated(self) -> bool:
        return self.open >= self.limit and not self._idle

    async def post(self, target: bytes, headers: Mapping[str, str], body: bytes) -> Response:
        head = request_head(self.origin, target, headers, len(body))
        connection = await self._acquire()
        return await connection.request(head, body)

    def put_back(self, connection: Connection) -> None:
        if self._closed:
            connection.abort()
            return
        connection.idle_since = self.loop.time()
        self._idle.append(connection)
        self._wake()

    def lost(self, connection: Connection) -> None:
        """A connection closed (either side): its place under the limit is free."""
        if connection.pool is not self:
            return
        connection.pool = GONE
        self.open -= 1
        try:
            self._idle.remove(connection)
        except ValueError:
            pass
        self._wake()

    async def close(self) -> None:
        self._closed = True
        while self._idle:
            self._idle.pop().abort()
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_exception(ConnectError("the upstream pool is closed"))

    async def _acquire(self) -> Connection:
        deadline: float | None = None
        while True:
            connection = self._reuse()
            if connection is not None:
                return connection
            if self.open < self.limit:
                return await self._connect()
            if deadline is None:
                deadline = self.loop.time() + self.pool_timeout
            remaining = deadline - self.loop.time()
            if remaining <= 0:
                raise PoolTimeout(f"no connection came free within {self.pool_timeout:g}s")
            waiter = self.loop.create_future()
            self._waiters.append(waiter)
            try:
                async with asyncio.timeout(remaining):
                    await waiter
            except TimeoutError:
                pass
            except BaseException:  # cancelled (the caller left), maybe just after its turn came
                if waiter.done() and not waiter.cancelled():
                    self._wake()  # ... so the next one in line takes it
                raise
            finally:
                if waiter in self._waiters:
                    self._waiters.remove(waiter)

    def _reuse(self) -> Connection | None:
        now = self.loop.time()
        idle = self._idle
        while idle and now - idle[0].idle_since > self.keepalive:
            idle[0].abort()  # the oldest first: removed from `idle` by `lost`
        while idle:
            connection = idle.pop()
            if not connection.closed:
                return connection
        return None

    async def _connect(self) -> Connection:
        self.open += 1
        origin = self.origin
        made: list[Connection] = []

        def connection() -> Connection:
            made.append(Connection(self))
            return made[-1]

        try:
            async with asyncio.timeout(self.connect_timeout):
                await self.loop.create_connection(
                    connection, origin.host, origin.port, ssl=self._ssl,
                    server_hostname=origin.host if self._ssl else None,
                )
        except BaseException as exc:
            if made:  # connected, then cut off: its own close gives its place back
                made[0].abort()
            else:
                self._forget()
            if isinstance(exc, TimeoutError):
                raise TimeoutError(
                    f"could not connect to {origin.host}:{origin.port} within "
                    f"{self.connect_timeout:g}s (connect_timeout)"
                ) from None
            if isinstance(exc, OSError):
                raise ConnectError(
                    f"could not connect to {origin.host}:{origin.port}: {exc}") from exc
            raise
        return made[0]

    def _forget(self) -> None:
        self.open -= 1
        self._wake()

    def _wake(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
