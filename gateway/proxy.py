"""Run one proxied call end to end: upstream request, relay, abort, and its record."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import aiohttp
import orjson
from starlette.types import Receive, Send

from gateway.api.asgi import JSON, send_chunk, send_response, start_stream
from gateway.calls import Call
from gateway.config import Settings
from gateway.errors import GatewayError
from gateway.providers.base import Provider, Route, UpstreamRequest
from gateway.providers.errors import error_from_response, upstream_failures
from gateway.streaming.disconnect import ClientGone, DisconnectWatch
from gateway.streaming.relay import relay_events
from gateway.upstream import UpstreamPool

ErrorRenderer = Callable[[GatewayError], bytes]


class Proxy:
    """Sends a call upstream and relays the answer, racing it against the client leaving."""

    def __init__(self, pool: UpstreamPool, settings: Settings,
                 on_finish: Callable[[Call], None]) -> None:
        self.pool = pool
        self.abort_on_disconnect = settings.abort_on_disconnect
        self.on_finish = on_finish
        self._drain_workloads = {w.name for w in settings.workloads if w.on_cancel == "drain"}
        self._drain_max = settings.drain_max_concurrent
        self._drain_timeout = settings.drain_timeout
        self.draining = 0

    async def handle(
        self, receive: Receive, send: Send, call: Call, provider: Provider, route: Route,
        request: UpstreamRequest, render_error: ErrorRenderer, render_stream_error: ErrorRenderer,
    ) -> None:
        watch = DisconnectWatch(
            receive, enabled=self.abort_on_disconnect, on_gone=call.meter.mark_client_gone
        )
        drained = False

        def drain() -> float | None:
            nonlocal drained
            if call.identity.workload not in self._drain_workloads:
                return None
            if self.draining >= self._drain_max:
                return None  # too many drains already: abort this one
            self.draining += 1
            drained = True
            return self._drain_timeout

        try:
            if call.mode == "stream":
                work = self._stream(send, call, provider, route, request, render_error,
                                    render_stream_error)
            else:
                work = self._unary(send, call, provider, route, request, render_error)
            await watch.run(work, drain)
        except ClientGone as gone:
            call.cancel("client_disconnect", gone.abort_seconds)
        finally:
            watch.stop()
            if drained:
                self.draining -= 1
            self.on_finish(call)

    async def _unary(
        self, send: Send, call: Call, provider: Provider, route: Route, request: UpstreamRequest,
        render_error: ErrorRenderer,
    ) -> None:
        try:
            status, headers, payload = await self._fetch(call, provider, request)
            if status >= 400:
                raise error_from_response(provider, status, payload, headers)
            body = _json_object(payload)
            if body is not None:
                provider.read_response(route, body, call.meter)
        except GatewayError as err:
            call.fail(err.status, err.message)
            await send_error(send, err, render_error)
            return
        await send_response(send, 200, payload, JSON)

    async def _fetch(
        self, call: Call, provider: Provider, request: UpstreamRequest
    ) -> tuple[int, Any, bytes]:
        with upstream_failures(provider):
            call.meter.upstream_sent_at = time.perf_counter()
            response = await self.pool.send(provider, request)
            try:
                payload = await response.read()
            except BaseException:
                response.close()
                raise
            response.release()
            return response.status, response.headers, payload

    async def _stream(
        self, send: Send, call: Call, provider: Provider, route: Route, request: UpstreamRequest,
        render_error: ErrorRenderer, render_stream_error: ErrorRenderer,
    ) -> None:
        response: aiohttp.ClientResponse | None = None
        try:
            try:
                with upstream_failures(provider):
                    call.meter.upstream_sent_at = time.perf_counter()
                    response = await self.pool.send(provider, request)
                    if response.status != 200:
                        payload = await response.read()
                        raise error_from_response(
                            provider, response.status, payload, response.headers
                        )
            except GatewayError as err:
                call.fail(err.status, err.message)
                await send_error(send, err, render_error)
                return
            await start_stream(send)
            tracker = provider.stream_tracker(route, call.meter, strip_usage=request.strip_usage)
            error = await relay_events(send, response, tracker, call.meter, provider)
            if error is not None:
                await send_chunk(send, render_stream_error(error))
            if call.meter.error is not None or error is not None:
                reported = error or call.meter.error
                assert reported is not None
                call.fail(reported.status, reported.message)
            await send_chunk(send, b"", more=False)
        finally:
            if response is not None:
                if call.status == "completed" and response.content.at_eof():
                    response.release()
                else:
                    response.close()


async def send_error(send: Send, err: GatewayError, render: ErrorRenderer) -> None:
    headers = [(k.encode(), v.encode()) for k, v in err.headers.items()]
    await send_response(send, err.status, render(err), JSON, headers)


def _json_object(payload: bytes) -> dict[str, Any] | None:
    try:
        body = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return None
    return body if isinstance(body, dict) else None
