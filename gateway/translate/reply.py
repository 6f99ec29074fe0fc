"""A translated call's answer: the provider's format parsed, the client's format written.

The meter is kept from the same neutral events the client's encoding is made of, so a
translated call is metered exactly like a same-protocol one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import orjson

from gateway.errors import UpstreamError
from gateway.providers.base import Provider
from gateway.providers.metering import StreamParser, record, record_response
from gateway.streaming.meter import Meter
from gateway.streaming.sse import SSEEvent
from gateway.translate.types import ChatResponse, StreamEvent


class Encoder(Protocol):
    """Writes neutral answers in one client API's format (`OpenAIEncoder`, ...)."""

    def response(self, answer: ChatResponse) -> bytes: ...

    def events(self, events: Sequence[StreamEvent]) -> bytes: ...


class TranslatedReply:
    __slots__ = ("provider", "encoder")

    def __init__(self, provider: Provider, encoder: Encoder) -> None:
        self.provider = provider
        self.encoder = encoder

    def whole(self, payload: bytes, meter: Meter) -> bytes:
        try:
            body: Any = orjson.loads(payload)
        except orjson.JSONDecodeError:
            body = None
        if not isinstance(body, dict):
            raise UpstreamError(
                f"provider {self.provider.name!r} answered with a body that is not a JSON object"
            )
        answer = self.provider.parse_response(body)
        record_response(meter, answer)
        return self.encoder.response(answer)

    def stream(self, meter: Meter) -> TranslatedStream:
        return TranslatedStream(self.provider.stream_parser(), self.encoder, meter)


class TranslatedStream:
    """Re-encodes a stream event by event (unavoidable across protocols; kept to one pass)."""

    __slots__ = ("parser", "encoder", "meter")

    def __init__(self, parser: StreamParser, encoder: Encoder, meter: Meter) -> None:
        self.parser = parser
        self.encoder = encoder
        self.meter = meter

    def convert(self, events: list[SSEEvent]) -> bytes:
        if len(events) == 1:
            return self._emit(self.parser.feed(events[0]))
        return b"".join([self._emit(self.parser.feed(event)) for event in events])

    def close(self) -> bytes:
        return self._emit(self.parser.close())

    def _emit(self, items: Sequence[StreamEvent]) -> bytes:
        if not items:
            return b""
        meter = self.meter
        for item in items:
            record(meter, item)
        return self.encoder.events(items)
