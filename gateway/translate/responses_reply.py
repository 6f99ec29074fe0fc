"""How a Responses API call's answer reaches the client, and what the gateway keeps of it.

Native (`NativeResponses`): the upstream speaks the Responses API; its bytes are relayed
untouched and parsed on the side for the meter and the stored Response object. A bare
`error` event of the upstream is replaced by a `response.failed` carrying the error, so the
client always gets a terminal event. Translated (`TranslatedResponses`): a chat-shaped
upstream's answer re-encoded by the `ResponsesEncoder`. Both answer `result()` (the Response
object so far) and `failed_event()` (the terminal event for an error after the stream began).
"""

from __future__ import annotations

from typing import Any

import orjson

from gateway.errors import GatewayError
from gateway.providers.base import Provider
from gateway.providers.metering import record
from gateway.streaming.meter import Meter
from gateway.streaming.sse import SSEEvent
from gateway.translate.reply import TranslatedReply
from gateway.translate.responses_response import TERMINAL, ResponsesEncoder
from gateway.translate.responses_stream import ResponsesParser, read_response
from gateway.translate.types import StreamError


class TranslatedResponses(TranslatedReply):
    __slots__ = ("responses",)

    def __init__(self, provider: Provider, encoder: ResponsesEncoder) -> None:
        super().__init__(provider, encoder)
        self.responses = encoder

    @property
    def finished(self) -> bool:
        return self.responses.finished

    def result(self) -> dict[str, Any] | None:
        return self.responses.snapshot()

    def failed_event(self, err: GatewayError) -> bytes:
        return self.responses.failed(err)


class NativeResponses:
    """A Responses API upstream's answer, passed on untouched (see the module docstring)."""

    __slots__ = ("provider", "parser", "meter", "body")

    def __init__(self, provider: Provider) -> None:
        self.provider = provider
        self.parser = ResponsesParser(provider)
        self.meter = Meter()
        self.body: dict[str, Any] | None = None

    def whole(self, payload: bytes, meter: Meter) -> bytes:
        try:
            body: Any = orjson.loads(payload)
        except orjson.JSONDecodeError:
            return payload
        if isinstance(body, dict):
            self.body = body
            for event in read_response(body):
                record(meter, event)
        return payload

    def stream(self, meter: Meter) -> NativeResponses:
        self.meter = meter
        return self

    def convert(self, events: list[SSEEvent]) -> bytes:
        out: list[bytes] = []
        for event in events:
            raw = event.raw
            for item in self.parser.feed(event):
                record(self.meter, item)
                if isinstance(item, StreamError) and self._status() != "failed":
                    meter = self.meter
                    usage = (meter.prompt_tokens, meter.completion_tokens)
                    raw = self.parser.failed(item.error, usage, replacing=True)
            out.append(raw)
        return b"".join(out)

    def close(self) -> bytes:
        return b""

    @property
    def finished(self) -> bool:
        return self.body is not None or self._status() in TERMINAL

    def result(self) -> dict[str, Any] | None:
        return self.body if self.body is not None else self.parser.snapshot()

    def failed_event(self, err: GatewayError) -> bytes:
        meter = self.meter
        return self.parser.failed(err, (meter.prompt_tokens, meter.completion_tokens))

    def _status(self) -> str | None:
        response = self.parser.response
        return None if response is None else response.get("status")
