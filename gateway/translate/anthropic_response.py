"""Neutral answers rendered for an Anthropic client: a `message`, or its event stream.

The stream opens with `message_start` at the first upstream event, opens a content block per
run of text or per tool call (closing the previous one), and ends with `message_delta`
(stop reason, usage) and `message_stop`. Thinking text has no unsigned form in this protocol
and is not shown (it is still counted as delivered by the meter).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

from gateway.errors import anthropic_error_event
from gateway.translate.reasons import to_anthropic
from gateway.translate.types import (
    ChatResponse,
    Finish,
    StreamEnd,
    StreamError,
    StreamEvent,
    TextDelta,
    TextPart,
    ToolCallDelta,
    ToolCallStart,
    Usage,
)

_TEXT_DELTA = (
    b'event: content_block_delta\ndata: {"type":"content_block_delta","index":%d,'
    b'"delta":{"type":"text_delta","text":%s}}\n\n'
)
_JSON_DELTA = (
    b'event: content_block_delta\ndata: {"type":"content_block_delta","index":%d,'
    b'"delta":{"type":"input_json_delta","partial_json":%s}}\n\n'
)
_BLOCK_STOP = b'event: content_block_stop\ndata: {"type":"content_block_stop","index":%d}\n\n'
_MESSAGE_STOP = b'event: message_stop\ndata: {"type":"message_stop"}\n\n'


def event(payload: dict[str, Any]) -> bytes:
    return b"event: %s\ndata: %s\n\n" % (payload["type"].encode(), orjson.dumps(payload))


def usage_object(
    prompt: int, completion: int, cache_read: int | None, cache_write: int | None
) -> dict[str, int]:
    """Anthropic's usage: `input_tokens` leaves out what was read from or written to the
    cache, which are counted on their own."""
    usage = {"input_tokens": max(0, prompt - (cache_read or 0) - (cache_write or 0))}
    if cache_read is not None or cache_write is not None:
        usage["cache_creation_input_tokens"] = cache_write or 0
        usage["cache_read_input_tokens"] = cache_read or 0
    usage["output_tokens"] = completion
    return usage


def tool_input(arguments: str) -> Any:
    """Tool arguments as the object Anthropic's `input` holds (kept as text if not JSON)."""
    try:
        value = orjson.loads(arguments or "{}")
    except orjson.JSONDecodeError:
        return {"_unparsed_arguments": arguments}
    return value if isinstance(value, dict) else {"_unparsed_arguments": arguments}


class AnthropicEncoder:
    """One call's answer in Anthropic's Messages shape, whole or event by event."""

    __slots__ = (
        "id",
        "model",
        "_started",
        "_open",
        "_text_open",
        "_next",
        "_tools",
        "_reason",
        "_prompt",
        "_completion",
        "_cache",
    )

    def __init__(self, call_id: str, model: str) -> None:
        self.id = f"msg_{call_id}"
        self.model = model
        self._started = False
        self._open: int | None = None  # index of the open content block
        self._text_open = False
        self._next = 0
        self._tools: dict[int, int] = {}  # tool call ordinal -> content block index
        self._reason = "end_turn"
        self._prompt = 0
        self._completion = 0
        self._cache: list[int | None] = [None, None]  # reads, writes

    def response(self, answer: ChatResponse) -> bytes:
        content = [
            {"type": "text", "text": part.text}
            if isinstance(part, TextPart)
            else {
                "type": "tool_use",
                "id": part.id,
                "name": part.name,
                "input": tool_input(part.arguments),
            }
            for part in answer.parts
        ]
        return orjson.dumps(
            self._message(
                content,
                to_anthropic(answer.finish_reason),
                usage_object(
                    answer.prompt_tokens or 0,
                    answer.completion_tokens or 0,
                    answer.cache_read_tokens,
                    answer.cache_write_tokens,
                ),
            )
        )

    def events(self, events: Sequence[StreamEvent]) -> bytes:
        out: list[bytes] = []
        if not self._started:
            self._started = True
            for item in events:  # the input count, if this first batch already has it
                if isinstance(item, Usage):
                    self._usage(item)
            start = self._message([], None, usage_object(self._prompt, 0, *self._cache))
            out.append(event({"type": "message_start", "message": start}))
        for item in events:
            match item:
                case TextDelta(text):
                    if not self._text_open:
                        self._start_block(out, {"type": "text", "text": ""})
                        self._text_open = True
                    out.append(_TEXT_DELTA % (self._open, orjson.dumps(text)))
                case ToolCallStart(index, call_id, name):
                    self._tools[index] = self._next
                    block = {"type": "tool_use", "id": call_id, "name": name, "input": {}}
                    self._start_block(out, block)
                case ToolCallDelta(index, arguments):
                    block_index = self._tools.get(index)
                    if block_index is not None:
                        out.append(_JSON_DELTA % (block_index, orjson.dumps(arguments)))
                case Finish(reason):
                    self._reason = to_anthropic(reason)
                case Usage():
                    self._usage(item)
                case StreamError(error):
                    out.append(anthropic_error_event(error))
                case StreamEnd():
                    self._close_block(out)
                    usage = usage_object(self._prompt, self._completion, *self._cache)
                    delta = {"stop_reason": self._reason, "stop_sequence": None}
                    out.append(event({"type": "message_delta", "delta": delta, "usage": usage}))
                    out.append(_MESSAGE_STOP)
        return b"".join(out)

    def _usage(self, usage: Usage) -> None:
        if usage.prompt is not None:
            self._prompt = usage.prompt
        if usage.completion is not None:
            self._completion = usage.completion
        for index, count in enumerate((usage.cache_read, usage.cache_write)):
            if count is not None:
                self._cache[index] = count

    def _start_block(self, out: list[bytes], block: dict[str, Any]) -> None:
        self._close_block(out)
        self._open = self._next
        self._next += 1
        out.append(
            event({"type": "content_block_start", "index": self._open, "content_block": block})
        )

    def _close_block(self, out: list[bytes]) -> None:
        if self._open is not None:
            out.append(_BLOCK_STOP % self._open)
            self._open = None
            self._text_open = False

    def _message(
        self, content: list[Any], stop_reason: str | None, usage: dict[str, int]
    ) -> dict[str, Any]:
        return {
            "id": self.id,
            "type": "message",
            "role": "assistant",
            "model": self.model,
            "content": content,
            "stop_reason": stop_reason,
            "stop_sequence": None,
            "usage": usage,
        }
