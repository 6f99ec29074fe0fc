"""The pooled upstream HTTP client, owned by the app lifespan.

aiohttp rather than httpx on the hot path: relaying a small call through a bare route, httpx's
pool managed 250-360 req/s on this machine against aiohttp's 2,100 (see bench/RESULTS.md).
One `ClientSession` per provider gives each its own connection limit and keep-alive pool.

A POST is never sent twice: once it may have been written, a reset or closed connection is an
upstream error (a resend could run a generation twice and bill it twice). The race it would
paper over, a server retiring a keep-alive connection just as it is reused, is kept rare by
retiring idle connections on the gateway's side first.
"""

from __future__ import annotations

from typing import Any

import aiohttp
from yarl import URL

from gateway.errors import UpstreamPoolExhausted
from gateway.providers.base import Provider, UpstreamRequest

# Below the 5 s idle timeout of uvicorn-based servers (vLLM, the simulator) and the longer ones
# of the vendors' APIs, so the gateway, not the server, retires idle connections.
KEEPALIVE_TIMEOUT = 4.0


class UpstreamPool:
    def __init__(self) -> None:
        self._sessions: dict[str, aiohttp.ClientSession] = {}
        self._urls: dict[str, URL] = {}  # parsed once: yarl parsing shows in the profile

    def session(self, provider: Provider) -> aiohttp.ClientSession:
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

    async def send(self, provider: Provider, request: UpstreamRequest) -> aiohttp.ClientResponse:
        """POST the request once; the caller owns (and must close or release) the response.

        Connection failures propagate for `providers.errors.upstream_failures` to map; a call
        that found every pooled connection busy for `pool_timeout` is `UpstreamPoolExhausted`.
        """
        url = self._urls.get(request.url)
        if url is None:
            url = self._urls[request.url] = URL(request.url)
        session = self.session(provider)
        try:
            return await session.post(url, data=request.body, headers=request.headers)
        except aiohttp.ConnectionTimeoutError as exc:
            if _saturated(session.connector):
                config = provider.config
                raise UpstreamPoolExhausted(
                    f"provider {provider.name!r}: all {config.max_connections} connections "
                    f"(max_connections) stayed busy for {config.pool_timeout:g}s (pool_timeout)"
                ) from exc
            raise

    async def fetch(self, provider: Provider, request: UpstreamRequest) -> tuple[int, Any, bytes]:
        """POST and read the whole answer: (status, headers, body). A read cut short (the
        caller cancelled) closes the connection rather than returning it to the pool."""
        response = await self.send(provider, request)
        try:
            payload = await response.read()
        except BaseException:
            response.close()
            raise
        response.release()
        return response.status, response.headers, payload

    async def get(self, provider: Provider, url: str, headers: dict[str, str]) -> bytes:
        async with self.session(provider).get(url, headers=headers) as response:
            return await response.read()

    async def close(self) -> None:
        for session in self._sessions.values():
            await session.close()
        self._sessions.clear()


def _saturated(connector: aiohttp.BaseConnector | None) -> bool:
    """Whether every connection the limit allows is in use (the wait was for the pool, not
    for a slow connect). aiohttp keeps no public count, so this reads its acquired set."""
    if connector is None or not connector.limit:
        return False
    return len(getattr(connector, "_acquired", ())) >= connector.limit
