"""Anthropic Messages answers, streamed or whole, as neutral events and responses.

Usage on a stream: the exact input tokens (input + cache creation + cache reads, with the
cache reads and writes also on their own) are reported as soon as `message_start` arrives.
`message_delta.usage.output_tokens` is cumulative and is held back until `message_stop`,
which reports the final count: a stream cut before `message_stop` (the client left, the
upstream broke) therefore has prompt tokens but no completion usage, and its delivered text
is counted instead. That is the conservative
reading of a `message_delta` that may not be the last one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

from gateway.providers.errors import stream_error
from gateway.streaming.sse import SSEEvent
from gateway.translate.reasons import from_anthropic
from gateway.translate.types import (
    ChatResponse,
    Finish,
    ReasoningDelta,
    StreamEnd,
    StreamError,
    StreamEvent,
    TextDelta,
    TextPart,
    ToolCall,
    ToolCallDelta,
    ToolCallStart,
    Usage,
)

_INPUT_FIELDS = ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")
_NOTHING: tuple[StreamEvent, ...] = ()


def input_tokens(usage: dict[str, Any]) -> int | None:
    """Input + cache creation + cache read tokens, or None if none of them is reported."""
    counts = [usage.get(name) for name in _INPUT_FIELDS]
    known = [count for count in counts if isinstance(count, int)]
    return sum(known) if known else None


def cache_counts(usage: dict[str, Any]) -> tuple[Any, Any]:
    """(cache reads, cache writes) of the input, as reported."""
    return usage.get("cache_read_input_tokens"), usage.get("cache_creation_input_tokens")


class AnthropicParser:
    """Follows one Messages stream; dispatches on the JSON `type`, never the event name."""

    __slots__ = ("provider", "_tools", "_input", "_output")

    def __init__(self, provider: Any) -> None:
        self.provider = provider
        self._tools: dict[Any, int] = {}  # content block index -> tool call ordinal
        self._input: dict[str, Any] = {}
        self._output: int | None = None

    def feed(self, event: SSEEvent) -> Sequence[StreamEvent]:
        data = event.data
        if not data:
            return _NOTHING
        try:
            payload = orjson.loads(data)
        except orjson.JSONDecodeError:
            return _NOTHING
        if not isinstance(payload, dict):
            return _NOTHING
        kind = payload.get("type")
        if kind == "content_block_delta":
            return self._delta(payload.get("index"), payload.get("delta") or {})
        if kind == "content_block_start":
            return self._block(payload.get("index"), payload.get("content_block") or {})
        if kind == "message_start":
            usage = (payload.get("message") or {}).get("usage") or {}
            return self._usage(usage, final=False)
        if kind == "message_delta":
            reason = (payload.get("delta") or {}).get("stop_reason")
            self._usage(payload.get("usage") or {}, final=False)
            return [Finish(from_anthropic(reason))] if reason else _NOTHING
        if kind == "message_stop":
            return [*self._usage({}, final=True), StreamEnd()]
        if kind == "error":
            return [StreamError(stream_error(self.provider, payload))]
        return _NOTHING  # ping, content_block_stop, and event types added later

    def close(self) -> Sequence[StreamEvent]:
        return _NOTHING

    def _delta(self, index: Any, delta: dict[str, Any]) -> Sequence[StreamEvent]:
        kind = delta.get("type")
        if kind == "text_delta":
            text = delta.get("text")
            return [TextDelta(text)] if text else _NOTHING
        if kind == "input_json_delta":
            fragment = delta.get("partial_json")  # the first one is often ""
            ordinal = self._tools.get(index)
            if fragment and ordinal is not None:
                return [ToolCallDelta(ordinal, fragment)]
            return _NOTHING
        if kind == "thinking_delta":
            thinking = delta.get("thinking")
            return [ReasoningDelta(thinking)] if thinking else _NOTHING
        return _NOTHING  # signature_delta, citations_delta, ...

    def _block(self, index: Any, block: dict[str, Any]) -> Sequence[StreamEvent]:
        kind = block.get("type")
        if kind == "tool_use":
            ordinal = self._tools[index] = len(self._tools)
            events: list[StreamEvent] = [
                ToolCallStart(ordinal, str(block.get("id")), str(block.get("name")))
            ]
            if block.get("input"):
                events.append(ToolCallDelta(ordinal, orjson.dumps(block["input"]).decode()))
            return events
        if kind == "text" and block.get("text"):
            return [TextDelta(block["text"])]
        if kind == "thinking" and block.get("thinking"):
            return [ReasoningDelta(block["thinking"])]
        return _NOTHING

    def _usage(self, usage: dict[str, Any], *, final: bool) -> Sequence[StreamEvent]:
        """Cumulative counts overwrite earlier ones; a field left out keeps its last value."""
        for name in _INPUT_FIELDS:
            if isinstance(usage.get(name), int):
                self._input[name] = usage[name]
        output = usage.get("output_tokens")
        if isinstance(output, int):
            self._output = output
        prompt = input_tokens(self._input)
        if final:
            return [Usage(prompt, self._output, *cache_counts(self._input))]
        if prompt is None:
            return _NOTHING
        return [Usage(prompt, None, *cache_counts(self._input))]


def parse_message(body: dict[str, Any]) -> ChatResponse:
    """A whole `message` object in neutral form (thinking blocks are not part of the text)."""
    parts: list[TextPart | ToolCall] = []
    for block in body.get("content") or ():
        kind = block.get("type")
        if kind == "text":
            parts.append(TextPart(block.get("text") or ""))
        elif kind == "tool_use":
            arguments = orjson.dumps(block.get("input") or {}).decode()
            parts.append(ToolCall(str(block.get("id")), str(block.get("name")), arguments))
    usage = body.get("usage") or {}
    reason = body.get("stop_reason")
    return ChatResponse(
        parts,
        from_anthropic(reason) if reason else None,
        input_tokens(usage),
        usage.get("output_tokens"),
        *cache_counts(usage),
    )
