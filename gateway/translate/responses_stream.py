"""A Responses API event stream read on the side: neutral events for the meter, and the
Response object as it grows (the lifecycle events' response, items as they are added, deltas,
then the final object), so a relayed stream can be stored, and ended with `response.failed`
by the gateway when it breaks.

Errors the upstream reports after HTTP 200 (`error` events, nested or not) become a
`StreamError`; `response.failed` is the upstream's own terminal event and is one too.
"""

from __future__ import annotations

import copy
from typing import Any

import orjson

from gateway.errors import GatewayError
from gateway.providers.errors import stream_error
from gateway.streaming.sse import SSEEvent
from gateway.translate.responses_response import TERMINAL, error_object, usage_object
from gateway.translate.types import (
    Finish,
    ReasoningDelta,
    StreamEnd,
    StreamError,
    StreamEvent,
    TextDelta,
    ToolCallDelta,
    ToolCallStart,
    Usage,
)

_LIFECYCLE = ("response.created", "response.queued", "response.in_progress")
_REASONING = ("response.reasoning_text.delta", "response.reasoning_summary_text.delta")


class ResponsesParser:
    """Turns a Responses API stream into neutral events, keeping the Response object."""

    __slots__ = ("provider", "response", "items", "sequence", "_tools")

    def __init__(self, provider: Any) -> None:
        self.provider = provider
        self.response: dict[str, Any] | None = None
        self.items: dict[int, dict[str, Any]] = {}
        self.sequence = -1  # the last sequence number seen
        self._tools: dict[int, int] = {}  # output index -> tool call ordinal

    def feed(self, event: SSEEvent) -> list[StreamEvent]:
        data = event.data
        if not data or data == "[DONE]":
            return []
        try:
            payload = orjson.loads(data)
        except orjson.JSONDecodeError:
            return []
        if not isinstance(payload, dict):
            return []
        number = payload.get("sequence_number")
        if isinstance(number, int):
            self.sequence = max(self.sequence, number)
        kind = payload.get("type") or event.event
        if kind == "error" or (kind is None and payload.get("error")):
            return [StreamError(stream_error(self.provider, _nested(payload)))]
        return self._apply(str(kind), payload)

    def close(self) -> list[StreamEvent]:
        return []

    def snapshot(self) -> dict[str, Any] | None:
        """The Response object so far (a copy), its output as far as it has streamed."""
        if self.response is None:
            return None
        response = copy.deepcopy(self.response)
        if self.items and response.get("status") not in TERMINAL:
            response["output"] = [copy.deepcopy(self.items[i]) for i in sorted(self.items)]
        return response

    def failed(
        self, err: GatewayError, usage: tuple[int | None, int | None], *, replacing: bool = False
    ) -> bytes:
        """A gateway-made `response.failed` continuing the upstream's sequence numbers (or in
        place of the upstream's last event, an `error` event)."""
        response = self.snapshot() or {"object": "response", "output": []}
        if response.get("status") in TERMINAL:
            return b""
        response.update(status="failed", error=error_object(err), usage=usage_object(*usage))
        self.response = response
        if not replacing:
            self.sequence += 1
        payload = {"type": "response.failed", "sequence_number": self.sequence,
                   "response": response}
        return b"event: response.failed\ndata: " + orjson.dumps(payload) + b"\n\n"

    def _apply(self, kind: str, payload: dict[str, Any]) -> list[StreamEvent]:
        index = payload.get("output_index")
        if kind == "response.output_text.delta" or kind in _REASONING:
            delta = payload.get("delta") or ""
            item = self.items.get(index) if isinstance(index, int) else None
            if item is not None and kind == "response.output_text.delta":
                _add_text(item, payload.get("content_index", 0), delta)
            if not delta:
                return []
            return [TextDelta(delta) if kind == "response.output_text.delta"
                    else ReasoningDelta(delta)]
        if kind == "response.function_call_arguments.delta":
            delta = payload.get("delta") or ""
            if isinstance(index, int) and index in self.items:
                self.items[index]["arguments"] = self.items[index].get("arguments", "") + delta
            ordinal = self._tools.get(index) if isinstance(index, int) else None
            return [ToolCallDelta(ordinal, delta)] if delta and ordinal is not None else []
        if kind in ("response.output_item.added", "response.output_item.done"):
            return self._item(kind, index, payload.get("item"))
        if kind == "response.content_part.added" and isinstance(index, int):
            item = self.items.get(index)
            if item is not None and isinstance(payload.get("part"), dict):
                item.setdefault("content", []).append(payload["part"])
            return []
        response = payload.get("response")
        if not isinstance(response, dict):
            return []
        if kind in _LIFECYCLE:
            self.response = response
            return []
        if kind in ("response.completed", "response.incomplete", "response.failed"):
            self.response = response
            return _final(self.provider, kind, response)
        return []

    def _item(self, kind: str, index: Any, item: Any) -> list[StreamEvent]:
        if not isinstance(index, int) or not isinstance(item, dict):
            return []
        self.items[index] = item
        if kind == "response.output_item.added" and item.get("type") == "function_call":
            ordinal = self._tools[index] = len(self._tools)
            return [ToolCallStart(ordinal, str(item.get("call_id")), str(item.get("name")))]
        return []


def read_response(body: dict[str, Any]) -> list[StreamEvent]:
    """A whole Response object as neutral events (for the meter of a non-streaming call)."""
    out: list[StreamEvent] = []
    for item in body.get("output") or ():
        if not isinstance(item, dict):
            continue
        if item.get("type") == "message":
            for part in item.get("content") or ():
                if isinstance(part, dict) and part.get("text"):
                    out.append(TextDelta(part["text"]))
        elif item.get("type") == "function_call":
            ordinal = sum(isinstance(e, ToolCallStart) for e in out)
            out.append(ToolCallStart(ordinal, str(item.get("call_id")), str(item.get("name"))))
            out.append(ToolCallDelta(ordinal, item.get("arguments") or ""))
        elif item.get("type") == "reasoning":
            for part in (item.get("content") or []) + (item.get("summary") or []):
                if isinstance(part, dict) and part.get("text"):
                    out.append(ReasoningDelta(part["text"]))
    return out + _final(None, "response." + str(body.get("status") or "completed"), body)


def _final(provider: Any, kind: str, response: dict[str, Any]) -> list[StreamEvent]:
    usage = response.get("usage") or {}
    out: list[StreamEvent] = []
    if usage:
        out.append(Usage(usage.get("input_tokens"), usage.get("output_tokens")))
    if kind == "response.failed":
        error = response.get("error") or {"message": "the upstream response failed"}
        if provider is not None:
            out.append(StreamError(stream_error(provider, {"error": error})))
        return out
    reason = (response.get("incomplete_details") or {}).get("reason")
    if kind == "response.incomplete":
        out.append(Finish("content_filter" if reason == "content_filter" else "length"))
    elif any(isinstance(i, dict) and i.get("type") == "function_call"
             for i in response.get("output") or ()):
        out.append(Finish("tool_calls"))
    else:
        out.append(Finish("stop"))
    out.append(StreamEnd())
    return out


def _nested(payload: dict[str, Any]) -> dict[str, Any]:
    """An `error` event with its fields top-level or under `error`, as `{"error": {...}}`."""
    error = payload.get("error")
    if isinstance(error, dict):
        return {"error": error}
    return {"error": {k: payload.get(k) for k in ("message", "code", "type", "param")}}


def _add_text(item: dict[str, Any], content_index: Any, delta: str) -> None:
    content = item.setdefault("content", [])
    if not isinstance(content_index, int) or content_index < 0:
        return
    while len(content) <= content_index:
        content.append({"type": "output_text", "text": "", "annotations": []})
    part = content[content_index]
    part["text"] = part.get("text", "") + delta
