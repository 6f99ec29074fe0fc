"""The upstream pool never sends a POST twice, and waits for a pooled connection only so long."""

from __future__ import annotations

import asyncio
import socket
import struct
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from gateway.config import ProviderConfig
from gateway.errors import GatewayError, UpstreamPoolExhausted
from gateway.providers.base import UpstreamRequest
from gateway.providers.errors import upstream_failures
from gateway.providers.openai import OpenAIProvider
from gateway.upstream import UpstreamPool

RESPONSE = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}"
Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def read_request(reader: asyncio.StreamReader) -> None:
    head = await reader.readuntil(b"\r\n\r\n")
    length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                   if line.lower().startswith(b"content-length")), 0)
    await reader.readexactly(length)


def reset(writer: asyncio.StreamWriter) -> None:
    """Close with a TCP RST (SO_LINGER 0) rather than a FIN."""
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


class Upstream:
    """A loopback HTTP server of the test's own; counts the requests it read."""

    def __init__(self) -> None:
        self.requests = 0
        self.connections = 0
        self.arrived = asyncio.Event()
        self.server: asyncio.Server | None = None

    async def start(self, handler: Handler) -> None:
        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            self.connections += 1
            try:
                await handler(reader, writer)
            except (asyncio.IncompleteReadError, ConnectionError):
                writer.close()  # the client went away: nothing more to read

        self.server = await asyncio.start_server(serve, "127.0.0.1", 0)

    @property
    def port(self) -> int:
        assert self.server is not None
        return self.server.sockets[0].getsockname()[1]

    async def read(self, reader: asyncio.StreamReader) -> None:
        await read_request(reader)
        self.requests += 1
        self.arrived.set()

    def provider(self, **extra: object) -> tuple[OpenAIProvider, UpstreamRequest]:
        config = ProviderConfig.model_validate(
            {"name": "p", "kind": "openai", "base_url": f"http://127.0.0.1:{self.port}/v1",
             **extra}
        )
        request = UpstreamRequest(url=f"http://127.0.0.1:{self.port}/v1/chat/completions",
                                  headers={"content-type": "application/json"}, body=b"{}")
        return OpenAIProvider(config), request


@pytest.fixture
async def upstream() -> AsyncIterator[Upstream]:
    server = Upstream()
    yield server
    if server.server is not None:
        server.server.close()
        await server.server.wait_closed()


async def send(pool: UpstreamPool, provider: OpenAIProvider, request: UpstreamRequest) -> bytes:
    with upstream_failures(provider):
        response = await pool.send(provider, request)
        try:
            return await response.read()
        finally:
            response.release()


@pytest.mark.parametrize("close", ["fin", "rst"])
async def test_a_post_the_server_read_on_a_reused_connection_is_not_sent_again(
    upstream: Upstream, close: str
) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await upstream.read(reader)
        writer.write(RESPONSE)  # answer, keep the connection open ...
        await writer.drain()
        await upstream.read(reader)  # ... then read the next request and drop it unanswered
        if close == "rst":
            reset(writer)
        else:
            writer.close()

    await upstream.start(handler)
    provider, request = upstream.provider()
    pool = UpstreamPool()
    try:
        assert await send(pool, provider, request) == b"{}"
        with pytest.raises(GatewayError) as caught:
            await send(pool, provider, request)
    finally:
        await pool.close()
    assert caught.value.status == 502
    assert upstream.requests == 2 and upstream.connections == 1  # one request per call


async def test_a_post_read_on_a_fresh_connection_then_reset_is_a_502_sent_once(
    upstream: Upstream,
) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await upstream.read(reader)
        reset(writer)

    await upstream.start(handler)
    provider, request = upstream.provider()
    pool = UpstreamPool()
    try:
        with pytest.raises(GatewayError) as caught:
            await send(pool, provider, request)
    finally:
        await pool.close()
    assert caught.value.status == 502
    assert upstream.requests == 1


async def test_a_call_waiting_for_a_pooled_connection_gives_up_after_pool_timeout(
    upstream: Upstream,
) -> None:
    release = asyncio.Event()

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await upstream.read(reader)
        await release.wait()  # the first call holds the only connection until the test says
        writer.write(RESPONSE)
        await writer.drain()
        writer.close()

    await upstream.start(handler)
    provider, request = upstream.provider(max_connections=1, pool_timeout="200ms")
    pool = UpstreamPool()
    holder = asyncio.create_task(send(pool, provider, request))
    try:
        await upstream.arrived.wait()
        with pytest.raises(UpstreamPoolExhausted) as caught:
            await send(pool, provider, request)
        assert caught.value.status == 503 and caught.value.code == "upstream_pool_exhausted"
        assert "max_connections" in caught.value.message
        release.set()
        assert await holder == b"{}"
    finally:
        release.set()
        await asyncio.gather(holder, return_exceptions=True)
        await pool.close()
    assert upstream.requests == 1  # the refused call never reached the server
