"""Neutral answers rendered for an OpenAI client: a chat.completion, or chunks ending [DONE].

Chunks are built from pre-encoded bytes around each JSON-escaped delta, not whole dicts.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

import orjson

from gateway.errors import openai_error_event
from gateway.translate.types import (
    ChatResponse,
    Finish,
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

_OPEN = b',"finish_reason":null}]}\n\n'
_DONE = b"data: [DONE]\n\n"


def usage_object(
    prompt: int | None, completion: int | None, cached: int | None = None
) -> dict[str, Any]:
    prompt, completion = prompt or 0, completion or 0
    usage: dict[str, Any] = {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }
    if cached is not None:
        usage["prompt_tokens_details"] = {"cached_tokens": cached}
    return usage


class OpenAIEncoder:
    """One call's answer in OpenAI's chat completions shape, whole or chunk by chunk."""

    __slots__ = ("id", "model", "created", "include_usage", "_head", "_started", "_usage")

    def __init__(self, call_id: str, model: str, *, include_usage: bool) -> None:
        self.id = f"chatcmpl-{call_id}"
        self.model = model
        self.created = int(time.time())
        self.include_usage = include_usage  # the usage chunk only if the client asked for it
        self._head = (
            b'data: {"id":"%s","object":"chat.completion.chunk","created":%d,"model":%s,'
            b'"choices":[{"index":0,"delta":'
            % (self.id.encode(), self.created, orjson.dumps(model))
        )
        self._started = False
        self._usage: list[int | None] = [None, None, None]  # prompt, completion, cached

    def response(self, answer: ChatResponse) -> bytes:
        text = "".join(p.text for p in answer.parts if isinstance(p, TextPart))
        message: dict[str, Any] = {"role": "assistant", "content": text or None, "refusal": None}
        calls = [
            {"id": p.id, "type": "function", "function": {"name": p.name, "arguments": p.arguments}}
            for p in answer.parts
            if isinstance(p, ToolCall)
        ]
        if calls:
            message["tool_calls"] = calls
        choice = {
            "index": 0,
            "message": message,
            "logprobs": None,
            "finish_reason": answer.finish_reason or "stop",
        }
        return orjson.dumps(
            {
                "id": self.id,
                "object": "chat.completion",
                "created": self.created,
                "model": self.model,
                "choices": [choice],
                "usage": usage_object(
                    answer.prompt_tokens, answer.completion_tokens, answer.cache_read_tokens
                ),
            }
        )

    def events(self, events: Iterable[StreamEvent]) -> bytes:
        head = self._head
        out: list[bytes] = []
        if not self._started:
            self._started = True
            out.append(head + b'{"role":"assistant","content":""}' + _OPEN)
        for event in events:
            match event:
                case TextDelta(text):
                    out.append(head + b'{"content":' + orjson.dumps(text) + b"}" + _OPEN)
                case ToolCallStart(index, call_id, name):
                    call = {
                        "index": index,
                        "id": call_id,
                        "type": "function",
                        "function": {"name": name, "arguments": ""},
                    }
                    out.append(head + orjson.dumps({"tool_calls": [call]}) + _OPEN)
                case ToolCallDelta(index, arguments):
                    call = {"index": index, "function": {"arguments": arguments}}
                    out.append(head + orjson.dumps({"tool_calls": [call]}) + _OPEN)
                case Finish(reason):
                    out.append(head + b'{},"finish_reason":"%s"}]}\n\n' % reason.encode())
                case Usage(prompt, completion, cached):
                    for index, count in enumerate((prompt, completion, cached)):
                        if count is not None:
                            self._usage[index] = count
                case StreamError(error):
                    out.append(openai_error_event(error))
                case StreamEnd():
                    if self.include_usage:
                        out.append(self._usage_chunk())
                    out.append(_DONE)
        return b"".join(out)

    def _usage_chunk(self) -> bytes:
        chunk = {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": [],
            "usage": usage_object(*self._usage),
        }
        return b"data: " + orjson.dumps(chunk) + b"\n\n"
