"""Neutral answers rendered for a Gemini client: a GenerateContentResponse, or its `alt=sse`
stream (one whole GenerateContentResponse per `data:` event, no end marker).

Text deltas go out as they come. A function call arrives in Gemini whole (`args` an object),
so a translated call's argument fragments are gathered and the call is sent once it is
complete: when the next call starts, or with the finish. The last event carries the
`finishReason` and `usageMetadata`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

from gateway.errors import gemini_error_event
from gateway.translate.anthropic_response import tool_input
from gateway.translate.reasons import to_gemini
from gateway.translate.types import (
    ChatResponse,
    Finish,
    FinishReason,
    StreamEnd,
    StreamError,
    StreamEvent,
    TextDelta,
    TextPart,
    ToolCallDelta,
    ToolCallStart,
    Usage,
)


def usage_metadata(prompt: int | None, completion: int | None) -> dict[str, int]:
    prompt, completion = prompt or 0, completion or 0
    return {
        "promptTokenCount": prompt,
        "candidatesTokenCount": completion,
        "totalTokenCount": prompt + completion,
    }


def function_call(name: str, arguments: str) -> dict[str, Any]:
    return {"functionCall": {"name": name, "args": tool_input(arguments)}}


class GeminiEncoder:
    """One call's answer in Gemini's shape, whole or event by event."""

    __slots__ = ("id", "model", "_call", "_reason", "_usage")

    def __init__(self, call_id: str, model: str) -> None:
        self.id = call_id
        self.model = model
        self._call: list[str] | None = None  # [name, arguments so far] of the open call
        self._reason: FinishReason | None = None
        self._usage: list[int | None] = [None, None]

    def response(self, answer: ChatResponse) -> bytes:
        parts = [
            {"text": p.text} if isinstance(p, TextPart) else function_call(p.name, p.arguments)
            for p in answer.parts
        ]
        body = self._body(parts, to_gemini(answer.finish_reason))
        body["usageMetadata"] = usage_metadata(answer.prompt_tokens, answer.completion_tokens)
        return orjson.dumps(body)

    def events(self, events: Sequence[StreamEvent]) -> bytes:
        out: list[bytes] = []
        for event in events:
            match event:
                case TextDelta(text):
                    out.append(self._event([{"text": text}]))
                case ToolCallStart(name=name):
                    self._flush_call(out)
                    self._call = [name, ""]
                case ToolCallDelta(arguments=arguments):
                    if self._call is not None:
                        self._call[1] += arguments
                case Finish(reason):
                    self._reason = reason
                case Usage(prompt, completion):
                    if prompt is not None:
                        self._usage[0] = prompt
                    if completion is not None:
                        self._usage[1] = completion
                case StreamError(error):
                    out.append(gemini_error_event(error))
                case StreamEnd():
                    parts = [function_call(*self._call)] if self._call else []
                    self._call = None
                    body = self._body(parts or [{"text": ""}], to_gemini(self._reason))
                    body["usageMetadata"] = usage_metadata(*self._usage)
                    out.append(b"data: " + orjson.dumps(body) + b"\r\n\r\n")
        return b"".join(out)

    def _flush_call(self, out: list[bytes]) -> None:
        if self._call is not None:
            out.append(self._event([function_call(*self._call)]))
            self._call = None

    def _event(self, parts: list[dict[str, Any]]) -> bytes:
        return b"data: " + orjson.dumps(self._body(parts, None)) + b"\r\n\r\n"

    def _body(self, parts: list[dict[str, Any]], finish: str | None) -> dict[str, Any]:
        candidate: dict[str, Any] = {"content": {"role": "model", "parts": parts}, "index": 0}
        if finish is not None:
            candidate["finishReason"] = finish
        return {"candidates": [candidate], "modelVersion": self.model, "responseId": self.id}
