"""Keep a call's `Meter` from neutral stream events and responses, the same on every path.

The meter's `finish_reason` uses the neutral (OpenAI) vocabulary whatever the vendor.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from gateway.streaming.meter import Meter
from gateway.streaming.sse import SSEEvent
from gateway.translate.types import (
    ChatResponse,
    Finish,
    ReasoningDelta,
    StreamEnd,
    StreamError,
    StreamEvent,
    TextDelta,
    TextPart,
    ToolCallDelta,
    ToolCallStart,
    Usage,
)


class StreamParser(Protocol):
    """Turns a vendor's SSE events into neutral events, one SSE event at a time."""

    def feed(self, event: SSEEvent) -> Sequence[StreamEvent]: ...

    def close(self) -> Sequence[StreamEvent]:
        """The upstream reached EOF: events that only the end of the stream completes."""
        ...


def record(meter: Meter, event: StreamEvent) -> None:
    """Apply one event: text, thinking, tool names and arguments count as delivered."""
    match event:
        case TextDelta(text) | ReasoningDelta(text):
            meter.deliver(text)
        case ToolCallDelta(arguments=arguments):
            meter.deliver(arguments)
        case ToolCallStart(name=name):
            meter.deliver(name)
        case Usage(prompt, completion, cache_read, cache_write):
            meter.set_usage(prompt, completion, cache_read, cache_write)
        case Finish(reason):
            meter.finish_reason = reason
        case StreamError(error):
            meter.error = error
        case StreamEnd():
            meter.done = True


def record_response(meter: Meter, response: ChatResponse) -> None:
    """Apply a whole (non-streaming) answer."""
    meter.set_usage(
        response.prompt_tokens,
        response.completion_tokens,
        response.cache_read_tokens,
        response.cache_write_tokens,
    )
    for part in response.parts:
        if isinstance(part, TextPart):
            if part.text:
                meter.deliver(part.text)
        else:
            meter.deliver(part.name)
            if part.arguments:
                meter.deliver(part.arguments)
    meter.finish_reason = response.finish_reason
    meter.done = True


class EventTracker:
    """Side-parses a same-protocol stream for the meter; every event is forwarded."""

    __slots__ = ("parser", "meter")

    def __init__(self, parser: StreamParser, meter: Meter) -> None:
        self.parser = parser
        self.meter = meter

    def observe(self, event: SSEEvent) -> bool:
        for item in self.parser.feed(event):
            record(self.meter, item)
        return True
