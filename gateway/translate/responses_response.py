"""Neutral answers rendered for a Responses API client: a Response object, or its semantic
event stream (`event:` + `data:` with `type` and a rising `sequence_number`).

The stream opens with response.created and response.in_progress; each run of text is a
message item (output_item.added, content_part.added, output_text.delta..., then the .done
events), thinking is a reasoning item, each tool call a function_call item. It ends with
exactly one terminal event: response.completed, response.incomplete (the token limit or a
content filter) or response.failed (an upstream error, with the error in the response).
The encoder also keeps the Response object as it grows (`snapshot`), for the store.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

import orjson

from gateway.errors import GatewayError
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

_ECHO_DEFAULTS: dict[str, Any] = {
    "instructions": None,
    "max_output_tokens": None,
    "metadata": {},
    "parallel_tool_calls": True,
    "previous_response_id": None,
    "reasoning": None,
    "temperature": None,
    "text": {"format": {"type": "text"}},
    "tool_choice": "auto",
    "tools": [],
    "top_p": None,
    "user": None,
    "store": True,
    "background": False,
}
_INCOMPLETE = {"length": "max_output_tokens", "content_filter": "content_filter"}
TERMINAL = ("completed", "incomplete", "failed", "cancelled")


def echo_of(body: dict[str, Any]) -> dict[str, Any]:
    """The request fields a Response object repeats."""
    return {
        key: default if body.get(key) is None else body[key]
        for key, default in _ECHO_DEFAULTS.items()
    }


def usage_object(prompt: int | None, completion: int | None) -> dict[str, Any]:
    prompt, completion = prompt or 0, completion or 0
    return {
        "input_tokens": prompt,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": completion,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": prompt + completion,
    }


def error_object(err: GatewayError) -> dict[str, Any]:
    code = "rate_limit_exceeded" if err.status == 429 else "server_error"
    return {"code": code, "message": err.message}


def response_object(
    response_id: str, model: str, created_at: int, status: str, echo: dict[str, Any]
) -> dict[str, Any]:
    """A Response object with no output yet."""
    return {
        "id": response_id,
        "object": "response",
        "created_at": created_at,
        "status": status,
        "model": model,
        "output": [],
        "usage": None,
        "error": None,
        "incomplete_details": None,
        **echo,
    }


class ResponsesEncoder:
    """One call's answer in the Responses API's shape, whole or event by event."""

    def __init__(self, call_id: str, model: str, echo: dict[str, Any]) -> None:
        self.id = f"resp_{call_id}"
        self._call_id = call_id
        self.body = response_object(self.id, model, int(time.time()), "in_progress", echo)
        self.output: list[dict[str, Any]] = self.body["output"]
        self._seq = 0
        self._started = False
        self._text: int | None = None  # output index of the open message
        self._reasoning: int | None = None  # output index of the open reasoning item
        self._tools: dict[int, int] = {}  # tool call ordinal -> output index
        self._open: set[int] = set()
        self._reason: str | None = None
        self._usage: list[int | None] = [None, None]

    @property
    def finished(self) -> bool:
        return self.body["status"] in TERMINAL

    def snapshot(self) -> dict[str, Any]:
        return self.body

    # --- whole ---------------------------------------------------------------------------

    def response(self, answer: ChatResponse) -> bytes:
        for index, part in enumerate(answer.parts):
            if isinstance(part, TextPart):
                self.output.append(self._message(index, part.text, "completed"))
            else:
                self.output.append(self._call(index, part.id, part.name, part.arguments))
        self._usage = [answer.prompt_tokens, answer.completion_tokens]
        self._reason = answer.finish_reason
        self._end()
        return orjson.dumps(self.body)

    # --- stream --------------------------------------------------------------------------

    def events(self, events: Iterable[StreamEvent]) -> bytes:
        out: list[bytes] = []
        if not self._started:
            self._started = True
            out.append(self._event("response.created", response=self.body))
            out.append(self._event("response.in_progress", response=self.body))
        for event in events:
            match event:
                case TextDelta(text):
                    self._text_delta(text, out)
                case ReasoningDelta(text):
                    self._reasoning_delta(text, out)
                case ToolCallStart(index, call_id, name):
                    self._close_text(out)
                    self._close_reasoning(out)
                    position = len(self.output)
                    self._tools[index] = position
                    self.output.append(self._call(position, call_id, name, "", "in_progress"))
                    self._open.add(position)
                    out.append(self._added(position))
                case ToolCallDelta(index, arguments):
                    self._arguments(self._tools.get(index), arguments, out)
                case Finish(reason):
                    self._reason = reason
                case Usage(prompt, completion):
                    self._usage = [prompt or self._usage[0], completion or self._usage[1]]
                case StreamError(error):
                    out.append(self.failed(error))
                case StreamEnd():
                    self._close_text(out)
                    self._close_reasoning(out)
                    for position in sorted(self._open):
                        self._close_call(position, out)
                    self._end()
                    kind = "response.incomplete" if self._reason in _INCOMPLETE else None
                    out.append(self._event(kind or "response.completed", response=self.body))
        return b"".join(out)

    def failed(self, err: GatewayError) -> bytes:
        """The terminal `response.failed` event for an error after the stream began."""
        if self.finished:
            return b""
        self.body["status"] = "failed"
        self.body["error"] = error_object(err)
        self.body["usage"] = usage_object(*self._usage)
        return self._event("response.failed", response=self.body)

    # --- items ---------------------------------------------------------------------------

    def _text_delta(self, text: str, out: list[bytes]) -> None:
        if self._text is None:
            self._close_reasoning(out)
            position = self._text = len(self.output)
            self.output.append(self._message(position, "", "in_progress"))
            out.append(self._added(position))
            out.append(self._event(
                "response.content_part.added", item_id=self.output[position]["id"],
                output_index=position, content_index=0, part=_text_part(""),
            ))
            self.output[position]["content"].append(_text_part(""))
        item = self.output[self._text]
        item["content"][0]["text"] += text
        out.append(self._event(
            "response.output_text.delta", item_id=item["id"], output_index=self._text,
            content_index=0, delta=text, logprobs=[],
        ))

    def _arguments(self, position: int | None, arguments: str, out: list[bytes]) -> None:
        if position is None:
            return
        item = self.output[position]
        item["arguments"] += arguments
        out.append(self._event(
            "response.function_call_arguments.delta", item_id=item["id"],
            output_index=position, delta=arguments,
        ))

    def _reasoning_delta(self, text: str, out: list[bytes]) -> None:
        if self._reasoning is None:
            self._close_text(out)
            position = self._reasoning = len(self.output)
            self.output.append({
                "id": f"rs_{self._call_id}_{position}", "type": "reasoning", "summary": [],
                "content": [{"type": "reasoning_text", "text": ""}], "status": "in_progress",
            })
            out.append(self._added(position))
        item = self.output[self._reasoning]
        item["content"][0]["text"] += text
        out.append(self._event(
            "response.reasoning_text.delta", item_id=item["id"], output_index=self._reasoning,
            content_index=0, delta=text,
        ))

    def _close_text(self, out: list[bytes]) -> None:
        position, self._text = self._text, None
        if position is None:
            return
        item = self.output[position]
        item["status"] = "incomplete" if self._reason in _INCOMPLETE else "completed"
        part = item["content"][0]
        fields = {"item_id": item["id"], "output_index": position, "content_index": 0}
        out.append(self._event("response.output_text.done", **fields, text=part["text"],
                               logprobs=[]))
        out.append(self._event("response.content_part.done", **fields, part=part))
        out.append(self._event("response.output_item.done", output_index=position, item=item))

    def _close_reasoning(self, out: list[bytes]) -> None:
        position, self._reasoning = self._reasoning, None
        if position is None:
            return
        item = self.output[position]
        item["status"] = "completed"
        out.append(self._event(
            "response.reasoning_text.done", item_id=item["id"], output_index=position,
            content_index=0, text=item["content"][0]["text"],
        ))
        out.append(self._event("response.output_item.done", output_index=position, item=item))

    def _close_call(self, position: int, out: list[bytes]) -> None:
        self._open.discard(position)
        item = self.output[position]
        item["status"] = "completed"
        out.append(self._event(
            "response.function_call_arguments.done", item_id=item["id"], output_index=position,
            arguments=item["arguments"],
        ))
        out.append(self._event("response.output_item.done", output_index=position, item=item))

    def _end(self) -> None:
        reason = _INCOMPLETE.get(self._reason or "")
        self.body["status"] = "incomplete" if reason else "completed"
        self.body["incomplete_details"] = {"reason": reason} if reason else None
        self.body["usage"] = usage_object(*self._usage)

    def _message(self, position: int, text: str, status: str) -> dict[str, Any]:
        content = [_text_part(text)] if status != "in_progress" else []
        return {"id": f"msg_{self._call_id}_{position}", "type": "message", "role": "assistant",
                "status": status, "content": content}

    def _call(self, position: int, call_id: str, name: str, arguments: str,
              status: str = "completed") -> dict[str, Any]:
        return {"id": f"fc_{self._call_id}_{position}", "type": "function_call",
                "status": status, "call_id": call_id, "name": name, "arguments": arguments}

    def _added(self, position: int) -> bytes:
        item = self.output[position]
        return self._event("response.output_item.added", output_index=position, item=item)

    def _event(self, kind: str, **fields: Any) -> bytes:
        payload = {"type": kind, "sequence_number": self._seq, **fields}
        self._seq += 1
        return b"event: %s\ndata: %s\n\n" % (kind.encode(), orjson.dumps(payload))


def _text_part(text: str) -> dict[str, Any]:
    return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}
