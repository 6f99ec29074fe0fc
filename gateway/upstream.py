"""The pooled upstream HTTP clients, owned by the app lifespan.

The calls' POSTs go through `gateway.http1` (`gateway.http1_pool`): one pool per provider and
origin, with the provider's connection limit and timeouts. Relaying a small call through a
bare route, httpx's pool managed 250-360 req/s on this machine against aiohttp's 2,100 (see
bench/RESULTS.md); at 3,500 calls/s aiohttp's request machinery was still a fifth of the
gateway's CPU, and `gateway.http1` does the same POST in a third of its CPU. The batch lane's
GETs and uploads, off the hot path, use one aiohttp `ClientSession` per provider (`session`).

A POST is never sent twice: once it may have been written, a reset or closed connection is an
upstream error (a resend could run a generation twice and bill it twice). The race it would
paper over, a server retiring a keep-alive connection just as it is reused, is kept rare by
retiring idle connections on the gateway's side first.
"""

from __future__ import annotations

from typing import Any

import aiohttp

from gateway.errors import UpstreamPoolExhausted
from gateway.http1 import Origin, Response, split_url
from gateway.http1_pool import Pool, PoolTimeout
from gateway.providers.base import Provider, UpstreamRequest

# Below the 5 s idle timeout of uvicorn-based servers (vLLM, the simulator) and the longer ones
# of the vendors' APIs, so the gateway, not the server, retires idle connections.
KEEPALIVE_TIMEOUT = 4.0


class UpstreamPool:
    def __init__(self) -> None:
        self._pools: dict[tuple[str, str, int], Pool] = {}  # (provider, host, port)
        self._sessions: dict[str, aiohttp.ClientSession] = {}

    async def send(self, provider: Provider, request: UpstreamRequest) -> Response:
        """POST the request once; the caller owns (and must release or close) the response.

        Connection failures propagate for `providers.errors.upstream_failures` to map; a call
        that found every pooled connection busy for `pool_timeout` is `UpstreamPoolExhausted`.
        """
        origin, target = split_url(request.url)
        pool = self._pools.get((provider.name, origin.host, origin.port))
        if pool is None:
            pool = self._pool(provider, origin)
        try:
            return await pool.post(target, request.headers, request.body)
        except PoolTimeout as exc:
            config = provider.config
            raise UpstreamPoolExhausted(
                f"provider {provider.name!r}: all {config.max_connections} connections "
                f"(max_connections) stayed busy for {config.pool_timeout:g}s (pool_timeout)"
            ) from exc

    async def fetch(self, provider: Provider, request: UpstreamRequest) -> tuple[int, Any, bytes]:
        """POST and read the whole answer: (status, headers, body) (`Response.take`)."""
        response = await self.send(provider, request)
        return response.status, response.headers, await response.take()

    def session(self, provider: Provider) -> aiohttp.ClientSession:
        """The batch lane's client for `provider` (its GETs and file uploads)."""
        session = self._sessions.get(provider.name)
        if session is None:
            config = provider.config
            connector = aiohttp.TCPConnector(
                limit=config.max_connections,
                keepalive_timeout=KEEPALIVE_TIMEOUT,
                ttl_dns_cache=300,
                enable_cleanup_closed=True,
            )
            session = aiohttp.ClientSession(
                connector=connector,
                timeout=aiohttp.ClientTimeout(
                    total=None,
                    connect=config.pool_timeout,  # waiting for a pooled connection, + connecting
                    sock_connect=config.connect_timeout,
                    sock_read=config.read_timeout,
                ),
                auto_decompress=False,
                skip_auto_headers=("User-Agent",),
                cookie_jar=aiohttp.DummyCookieJar(),
            )
            self._sessions[provider.name] = session
        return session

    async def get(self, provider: Provider, url: str, headers: dict[str, str]) -> bytes:
        async with self.session(provider).get(url, headers=headers) as response:
            return await response.read()

    async def close(self) -> None:
        for pool in self._pools.values():
            await pool.close()
        self._pools.clear()
        for session in self._sessions.values():
            await session.close()
        self._sessions.clear()

    def _pool(self, provider: Provider, origin: Origin) -> Pool:
        config = provider.config
        pool = Pool(origin, limit=config.max_connections, connect_timeout=config.connect_timeout,
                    pool_timeout=config.pool_timeout, read_timeout=config.read_timeout,
                    keepalive=KEEPALIVE_TIMEOUT)
        self._pools[(provider.name, origin.host, origin.port)] = pool
        return pool
