"""Relay an upstream stream to the client as its events arrive.

Same protocol (`Passthrough`): bytes are forwarded event by event exactly as the provider sent
them (no re-encoding), parsed on the side; an event the client did not ask for (the usage
chunk the gateway requested) is left out. Across protocols the converter re-encodes instead
(`gateway.translate.reply`); the loop, its errors and its end checks are the same.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any, Protocol

import orjson
from starlette.types import Send

from gateway.api.asgi import send_chunk
from gateway.errors import GatewayError, UpstreamError
from gateway.http1 import Response
from gateway.providers.base import Provider, Route, StreamTracker
from gateway.providers.errors import upstream_failures
from gateway.streaming.meter import Meter
from gateway.streaming.sse import SSEDecoder, SSEEvent


class StreamConverter(Protocol):
    """Turns decoded upstream events into the bytes the client gets (b"" for none)."""

    def convert(self, events: list[SSEEvent]) -> bytes: ...

    def close(self) -> bytes:
        """The upstream reached EOF: whatever only the end completes."""
        ...


async def relay_events(
    send: Send,
    response: Response,
    converter: StreamConverter,
    meter: Meter,
    provider: Provider,
    on_end: Callable[[], None] | None = None,
    first: bytes = b"",
) -> GatewayError | None:
    """Relay until the provider ends the stream (`first`: its bytes read already).

    Returns an error the caller must still report to the client (a broken or truncated stream);
    an error event the provider sent itself has already been relayed and is left in `meter`.
    `on_end` runs once, before the chunk in which the meter sees the end (or an error event)
    is sent: the call's outcome is known before the client has it.
    """
    decoder = SSEDecoder()
    try:
        with upstream_failures(provider):
            chunks: AsyncIterator[bytes] = (
                _chunks(first, response) if first else response.content.iter_any()
            )
            async for chunk in chunks:
                events = decoder.feed(chunk)
                if events:
                    out = converter.convert(events)
                    if on_end is not None and (meter.done or meter.error is not None):
                        on_end()
                        on_end = None
                    if out:
                        await send_chunk(send, out)
                    if meter.error is not None:
                        return None
            events = decoder.close()
            out = converter.convert(events) if events else b""
            out += converter.close()
            if on_end is not None and (meter.done or meter.error is not None):
                on_end()
            if out:
                await send_chunk(send, out)
    except GatewayError as exc:
        return exc
    if meter.error is not None:
        return None
    if not meter.done:
        return UpstreamError(f"provider {provider.name!r} ended the stream before it finished")
    return None


async def _chunks(first: bytes, response: Response) -> AsyncIterator[bytes]:
    if first:
        yield first
    async for chunk in response.content.iter_any():
        yield chunk


class Passthrough:
    """Same protocol: each event's own bytes, unless the tracker hides it."""

    __slots__ = ("tracker",)

    def __init__(self, tracker: StreamTracker) -> None:
        self.tracker = tracker

    def convert(self, events: list[SSEEvent]) -> bytes:
        if len(events) == 1:
            event = events[0]
            return event.raw if self.tracker.observe(event) else b""
        return b"".join([event.raw for event in events if self.tracker.observe(event)])

    def close(self) -> bytes:
        return b""


class NativeReply:
    """The answer of a provider that speaks the client's API, passed on untouched."""

    __slots__ = ("provider", "route", "strip_usage")

    def __init__(self, provider: Provider, route: Route, strip_usage: bool = False) -> None:
        self.provider = provider
        self.route = route
        self.strip_usage = strip_usage

    def whole(self, payload: bytes, meter: Meter) -> bytes:
        try:
            body: Any = orjson.loads(payload)
        except orjson.JSONDecodeError:
            return payload
        if isinstance(body, dict):
            self.provider.read_response(self.route, body, meter)
        return payload

    def stream(self, meter: Meter) -> Passthrough:
        tracker = self.provider.stream_tracker(self.route, meter, strip_usage=self.strip_usage)
        return Passthrough(tracker)
