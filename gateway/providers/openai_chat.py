"""Neutral requests and answers in OpenAI's chat completions format (for translated calls)."""

from __future__ import annotations

from typing import Any

import orjson

from gateway.errors import BadRequest
from gateway.providers.errors import stream_error
from gateway.streaming.sse import SSEEvent
from gateway.translate.reasons import from_openai
from gateway.translate.refusal import refuse
from gateway.translate.types import (
    ChatRequest,
    ChatResponse,
    Finish,
    ImagePart,
    ReasoningDelta,
    StreamEnd,
    StreamError,
    StreamEvent,
    TextDelta,
    TextPart,
    ToolCall,
    ToolCallDelta,
    ToolCallStart,
    ToolResult,
    Usage,
)

_SCALARS = ("temperature", "top_p", "user", "seed", "presence_penalty", "frequency_penalty",
            "reasoning_effort")


def chat_body(
    chat: ChatRequest, upstream_model: str, *, max_tokens_field: str, stream_usage: bool
) -> dict[str, Any]:
    """A chat completions body; `top_k` has no OpenAI equivalent and is refused."""
    if chat.top_k is not None:
        raise refuse("top_k", "openai")
    body: dict[str, Any] = {"model": upstream_model, "messages": _messages(chat)}
    if chat.max_tokens is not None:
        body[max_tokens_field] = chat.max_tokens
    for name in _SCALARS:
        value = getattr(chat, name)
        if value is not None:
            body[name] = value
    if chat.stop:
        body["stop"] = chat.stop
    if chat.tools:
        body["tools"] = [_tool(t.name, t.description, t.parameters) for t in chat.tools]
        if chat.parallel_tool_calls is not None:
            body["parallel_tool_calls"] = chat.parallel_tool_calls
    if chat.tool_choice is not None:
        choice = chat.tool_choice
        body["tool_choice"] = (
            {"type": "function", "function": {"name": choice.name}}
            if choice.mode == "tool"
            else choice.mode
        )
    if chat.response_format is not None:
        body["response_format"] = _response_format(chat)
    if chat.stream:
        body["stream"] = True
        if stream_usage:
            body["stream_options"] = {"include_usage": True}
    return body


def _tool(name: str, description: str | None, parameters: dict[str, Any]) -> dict[str, Any]:
    function: dict[str, Any] = {"name": name, "parameters": parameters}
    if description:
        function["description"] = description
    return {"type": "function", "function": function}


def _response_format(chat: ChatRequest) -> dict[str, Any]:
    assert chat.response_format is not None
    if chat.response_format.type == "json_object":
        return {"type": "json_object"}
    schema = {"name": "response", "schema": chat.response_format.schema}
    return {"type": "json_schema", "json_schema": schema}


def _messages(chat: ChatRequest) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    if chat.system:
        out.append({"role": "system", "content": chat.system})
    for message in chat.messages:
        if message.role == "assistant":
            text = "".join(p.text for p in message.parts if isinstance(p, TextPart))
            entry: dict[str, Any] = {"role": "assistant", "content": text or None}
            calls = [
                {
                    "id": p.id,
                    "type": "function",
                    "function": {"name": p.name, "arguments": p.arguments},
                }
                for p in message.parts
                if isinstance(p, ToolCall)
            ]
            if calls:
                entry["tool_calls"] = calls
            out.append(entry)
            continue
        # Tool results first: OpenAI wants them right after the assistant's tool calls.
        content: list[dict[str, Any]] = []
        for part in message.parts:
            if isinstance(part, ToolResult):
                out.append(
                    {"role": "tool", "tool_call_id": part.call_id, "content": _result_text(part)}
                )
            elif isinstance(part, TextPart):
                content.append({"type": "text", "text": part.text})
            elif isinstance(part, ImagePart):
                content.append({"type": "image_url", "image_url": {"url": _image_url(part)}})
        if len(content) == 1 and content[0]["type"] == "text":
            out.append({"role": "user", "content": content[0]["text"]})
        elif content:
            out.append({"role": "user", "content": content})
    return out


def _result_text(result: ToolResult) -> str:
    texts = []
    for part in result.content:
        if isinstance(part, ImagePart):
            raise refuse(part.param, "openai", "OpenAI tool results carry text only")
        texts.append(part.text)
    text = "\n".join(texts)
    return f"Error: {text}" if result.is_error else text


def _image_url(part: ImagePart) -> str:
    if part.url is not None:
        return part.url
    if not part.data or not part.media_type:
        raise BadRequest(
            f"'{part.param}': an inline image needs data and a media type", param=part.param
        )
    return f"data:{part.media_type};base64,{part.data}"


def usage_counts(usage: Any) -> tuple[Any, Any, Any, None]:
    """(prompt, completion, cached prompt, cache writes) of an OpenAI usage object; the
    prompt includes the cached tokens, and OpenAI bills no cache writes."""
    if not isinstance(usage, dict):
        return None, None, None, None
    details = usage.get("prompt_tokens_details")
    cached = details.get("cached_tokens") if isinstance(details, dict) else None
    return usage.get("prompt_tokens"), usage.get("completion_tokens"), cached, None


def parse_completion(body: dict[str, Any]) -> ChatResponse:
    """A chat.completion object (its first choice) in neutral form."""
    choices = body.get("choices") or [{}]
    choice = choices[0]
    message = choice.get("message") or {}
    parts: list[TextPart | ToolCall] = []
    if message.get("content"):
        parts.append(TextPart(message["content"]))
    for call in message.get("tool_calls") or ():
        function = call.get("function") or {}
        parts.append(
            ToolCall(
                str(call.get("id")), str(function.get("name")), function.get("arguments") or "{}"
            )
        )
    reason = choice.get("finish_reason")
    return ChatResponse(
        parts, from_openai(reason) if reason else None, *usage_counts(body.get("usage"))
    )


class OpenAIChatParser:
    """Chat completion chunks as neutral events; tool calls keep OpenAI's own indexes."""

    __slots__ = ("provider", "_tools")

    def __init__(self, provider: Any) -> None:
        self.provider = provider
        self._tools: set[int] = set()

    def feed(self, event: SSEEvent) -> list[StreamEvent]:
        data = event.data
        if not data:
            return []
        if data == "[DONE]":
            return [StreamEnd()]
        try:
            chunk = orjson.loads(data)
        except orjson.JSONDecodeError:
            return []
        if not isinstance(chunk, dict):
            return []
        if chunk.get("error"):
            return [StreamError(stream_error(self.provider, chunk))]
        out: list[StreamEvent] = []
        for choice in chunk.get("choices") or ():
            delta = choice.get("delta") or {}
            if delta.get("content"):
                out.append(TextDelta(delta["content"]))
            reasoning = delta.get("reasoning_content") or delta.get("reasoning")
            if reasoning:
                out.append(ReasoningDelta(reasoning))
            for call in delta.get("tool_calls") or ():
                self._tool_call(call, out)
            if choice.get("finish_reason"):
                out.append(Finish(from_openai(choice["finish_reason"])))
        usage = chunk.get("usage")
        if usage:
            out.append(Usage(*usage_counts(usage)))
        return out

    def _tool_call(self, call: dict[str, Any], out: list[StreamEvent]) -> None:
        index = call.get("index", 0)
        function = call.get("function") or {}
        if index not in self._tools:
            self._tools.add(index)
            call_id = call.get("id") or f"call_{index}"
            out.append(ToolCallStart(index, call_id, function.get("name") or ""))
        if function.get("arguments"):
            out.append(ToolCallDelta(index, function["arguments"]))

    def close(self) -> list[StreamEvent]:
        return []
