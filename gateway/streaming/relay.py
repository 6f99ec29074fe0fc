"""Forward a same-protocol stream as its bytes arrive, parsing on the side.

Bytes are forwarded event by event exactly as the provider sent them (no re-encoding); an
event the client did not ask for (the usage chunk the gateway requested) is left out.
"""

from __future__ import annotations

import aiohttp
from starlette.types import Send

from gateway.api.asgi import send_chunk
from gateway.errors import GatewayError, UpstreamError
from gateway.providers.base import Provider, StreamTracker
from gateway.providers.errors import upstream_failures
from gateway.streaming.meter import Meter
from gateway.streaming.sse import SSEDecoder, SSEEvent


async def relay_events(
    send: Send,
    response: aiohttp.ClientResponse,
    tracker: StreamTracker,
    meter: Meter,
    provider: Provider,
) -> GatewayError | None:
    """Relay until the provider ends the stream.

    Returns an error the caller must still report to the client (a broken or truncated stream);
    an error event the provider sent itself has already been relayed and is left in `meter`.
    """
    decoder = SSEDecoder()
    try:
        with upstream_failures(provider):
            async for chunk in response.content.iter_any():
                await _forward(send, decoder.feed(chunk), tracker)
                if meter.error is not None:
                    return None
            await _forward(send, decoder.close(), tracker)
    except GatewayError as exc:
        return exc
    if meter.error is not None:
        return None
    if not meter.done:
        return UpstreamError(f"provider {provider.name!r} ended the stream before it finished")
    return None


async def _forward(send: Send, events: list[SSEEvent], tracker: StreamTracker) -> None:
    if not events:
        return
    if len(events) == 1:
        event = events[0]
        if tracker.observe(event):
            await send_chunk(send, event.raw)
        return
    out = b"".join([event.raw for event in events if tracker.observe(event)])
    if out:
        await send_chunk(send, out)
