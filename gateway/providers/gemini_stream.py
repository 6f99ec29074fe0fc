"""Gemini answers, streamed (`alt=sse`) or whole, as neutral events and responses.

Each SSE `data:` is a whole GenerateContentResponse; there is no end marker, EOF ends the
stream, so the end is only signalled (at `close`) once a candidate carried a finish reason.
`usageMetadata` is cumulative: the last one seen is the usage, thinking tokens included in
the completion. A `functionCall` arrives whole: its `args` become one arguments fragment.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from typing import Any

import orjson

from gateway.providers.errors import stream_error
from gateway.providers.metering import record
from gateway.streaming.sse import SSEEvent
from gateway.translate.reasons import from_gemini
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

_NOTHING: tuple[StreamEvent, ...] = ()


def new_call_prefix() -> str:
    """Gemini's calls carry no id: the gateway names them, unique across a conversation."""
    return "call_" + secrets.token_hex(6)


def usage_counts(usage: Any) -> tuple[Any, Any, Any, None]:
    """(prompt, completion, cached prompt, cache writes) of a `usageMetadata`: the prompt
    includes the cached content; thinking counts as output; Gemini bills no cache writes."""
    if not isinstance(usage, dict):
        return None, None, None, None
    prompt = usage.get("promptTokenCount")
    candidates = usage.get("candidatesTokenCount")
    thoughts = usage.get("thoughtsTokenCount")
    if isinstance(thoughts, int):
        candidates = (candidates or 0) + thoughts
    return prompt, candidates, usage.get("cachedContentTokenCount"), None


class GeminiParser:
    __slots__ = ("provider", "_calls", "_finished", "_prefix")

    def __init__(self, provider: Any) -> None:
        self.provider = provider
        self._calls = 0
        self._finished = False
        self._prefix = new_call_prefix()

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
        if payload.get("error"):
            return [StreamError(stream_error(self.provider, payload))]
        out: list[StreamEvent] = []
        usage = payload.get("usageMetadata")
        if usage:
            out.append(Usage(*usage_counts(usage)))
        candidates = payload.get("candidates")
        if candidates:
            candidate = candidates[0]
            for part in (candidate.get("content") or {}).get("parts") or ():
                self._part(part, out)
            reason = candidate.get("finishReason")
            if reason:
                out.append(Finish(from_gemini(reason, self._calls > 0)))
                self._finished = True
        elif (payload.get("promptFeedback") or {}).get("blockReason"):
            out.append(Finish("content_filter"))
            self._finished = True
        return out

    def _part(self, part: dict[str, Any], out: list[StreamEvent]) -> None:
        text = part.get("text")
        if text:
            out.append(ReasoningDelta(text) if part.get("thought") else TextDelta(text))
            return
        call = part.get("functionCall")
        if isinstance(call, dict):
            index = self._calls
            self._calls += 1
            call_id = call.get("id") or f"{self._prefix}_{index}"
            out.append(ToolCallStart(index, call_id, str(call.get("name"))))
            out.append(ToolCallDelta(index, orjson.dumps(call.get("args") or {}).decode()))

    def close(self) -> Sequence[StreamEvent]:
        return [StreamEnd()] if self._finished else _NOTHING


class GeminiStream:
    """Follows a same-protocol (relayed) Gemini stream for the meter. The stream has no end
    marker: a candidate's finish reason is the end signal, EOF follows it."""

    __slots__ = ("parser", "meter")

    def __init__(self, parser: GeminiParser, meter: Any) -> None:
        self.parser = parser
        self.meter = meter

    def observe(self, event: SSEEvent) -> bool:
        for item in self.parser.feed(event):
            record(self.meter, item)
            if isinstance(item, Finish):
                self.meter.done = True
        return True


def parse_generation(body: dict[str, Any]) -> ChatResponse:
    """A whole GenerateContentResponse (its first candidate) in neutral form."""
    parts: list[TextPart | ToolCall] = []
    candidates = body.get("candidates") or []
    reason = None
    prefix = new_call_prefix()
    if candidates:
        candidate = candidates[0]
        for part in (candidate.get("content") or {}).get("parts") or ():
            if part.get("text") and not part.get("thought"):
                parts.append(TextPart(part["text"]))
            elif isinstance(part.get("functionCall"), dict):
                call = part["functionCall"]
                call_id = call.get("id") or f"{prefix}_{len(parts)}"
                arguments = orjson.dumps(call.get("args") or {}).decode()
                parts.append(ToolCall(call_id, str(call.get("name")), arguments))
        called = any(isinstance(p, ToolCall) for p in parts)
        finish = candidate.get("finishReason")
        reason = from_gemini(finish, called) if finish else None
    elif (body.get("promptFeedback") or {}).get("blockReason"):
        reason = "content_filter"
    return ChatResponse(parts, reason, *usage_counts(body.get("usageMetadata")))
