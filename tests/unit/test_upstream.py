"""The upstream pool retries a request whose pooled connection the server had just closed."""

from __future__ import annotations

import asyncio

from gateway.config import ProviderConfig
from gateway.providers.base import UpstreamRequest
from gateway.providers.openai import OpenAIProvider
from gateway.upstream import UpstreamPool

RESPONSE = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}"


async def read_request(reader: asyncio.StreamReader) -> bool:
    head = await reader.readuntil(b"\r\n\r\n")
    length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                   if line.lower().startswith(b"content-length")), 0)
    await reader.readexactly(length)
    return True


async def test_a_connection_closed_by_the_server_on_reuse_is_retried_once() -> None:
    connections = 0

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        await read_request(reader)
        if connections == 1:
            writer.write(RESPONSE)  # answer, keep the connection open ...
            await writer.drain()
            await read_request(reader)  # ... then drop the next request unanswered
        else:
            writer.write(RESPONSE)
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    provider = OpenAIProvider(ProviderConfig(name="p", kind="openai",
                                             base_url=f"http://127.0.0.1:{port}/v1"))
    request = UpstreamRequest(url=f"http://127.0.0.1:{port}/v1/chat/completions",
                              headers={"content-type": "application/json"}, body=b"{}")
    pool = UpstreamPool()
    try:
        for _ in range(2):
            response = await pool.send(provider, request)
            assert response.status == 200 and await response.read() == b"{}"
            response.release()
        assert connections == 2  # the second call went out again on a fresh connection
    finally:
        await pool.close()
        server.close()
        await server.wait_closed()
