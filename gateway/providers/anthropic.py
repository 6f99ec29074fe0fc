"""Anthropic Messages: same-protocol passthrough and neutral requests built as Messages."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from gateway.config import ModelConfig
from gateway.errors import BadRequest
from gateway.providers import anthropic_batch
from gateway.providers.anthropic_stream import AnthropicParser, parse_message
from gateway.providers.base import Provider, Route, UpstreamRequest, json_body
from gateway.translate.refusal import refuse
from gateway.translate.types import (
    ChatRequest,
    ChatResponse,
    ImagePart,
    Message,
    TextPart,
    ToolCall,
    ToolChoice,
    ToolResult,
)

DEFAULT_VERSION = "2023-06-01"
# Messages requires max_tokens; a translated call that set none gets this ceiling.
DEFAULT_MAX_TOKENS = 4096
_NO_EQUIVALENT = ("presence_penalty", "frequency_penalty", "seed", "response_format")


class AnthropicProvider(Provider):
    kind = "anthropic"
    batch_client = anthropic_batch

    def build_request(
        self,
        route: Route,
        body: dict[str, Any],
        model: ModelConfig,
        *,
        stream: bool,
        call_id: str,
        client_headers: Mapping[str, str] | None = None,
    ) -> UpstreamRequest:
        """The client's Messages body; `anthropic-version`/`-beta` come from the client."""
        body["model"] = model.upstream_name
        return UpstreamRequest(
            self.endpoint("/v1/messages"),
            self._headers(call_id, client_headers),
            json_body(body),
        )

    def build_count_request(
        self,
        body: dict[str, Any],
        model: ModelConfig,
        *,
        call_id: str,
        client_headers: Mapping[str, str] | None = None,
    ) -> UpstreamRequest:
        body["model"] = model.upstream_name
        return UpstreamRequest(
            self.endpoint("/v1/messages/count_tokens"),
            self._headers(call_id, client_headers),
            orjson.dumps(body),
        )

    def build_chat_request(
        self, chat: ChatRequest, model: ModelConfig, *, call_id: str
    ) -> UpstreamRequest:
        body = messages_body(chat, model.upstream_name)
        return UpstreamRequest(
            self.endpoint("/v1/messages"), self._headers(call_id, None), json_body(body)
        )

    def stream_parser(self) -> AnthropicParser:
        return AnthropicParser(self)

    def parse_response(self, body: dict[str, Any]) -> ChatResponse:
        return parse_message(body)

    def credentials(self) -> dict[str, str]:
        headers = {"anthropic-version": DEFAULT_VERSION}
        if self._secret:
            headers["x-api-key"] = self._secret
        return headers

    def _headers(self, call_id: str, client: Mapping[str, str] | None) -> dict[str, str]:
        headers = self.base_headers(call_id)
        headers.setdefault("anthropic-version", DEFAULT_VERSION)
        if client:
            headers.update(client)
        if self._secret:
            headers["x-api-key"] = self._secret
        return headers


def messages_body(chat: ChatRequest, upstream_model: str) -> dict[str, Any]:
    """A Messages body; features Anthropic lacks are refused by the client's field name."""
    for name in _NO_EQUIVALENT:
        if getattr(chat, name) is not None:
            raise refuse(name, "anthropic")
    body: dict[str, Any] = {
        "model": upstream_model,
        "max_tokens": chat.max_tokens or DEFAULT_MAX_TOKENS,
        "messages": _messages(chat.messages),
    }
    if chat.system:
        body["system"] = chat.system
    for name in ("temperature", "top_p", "top_k"):
        value = getattr(chat, name)
        if value is not None:
            body[name] = value
    if chat.stop:
        body["stop_sequences"] = chat.stop
    if chat.tools:
        body["tools"] = [
            {
                "name": t.name,
                "input_schema": t.parameters,
                **({"description": t.description} if t.description else {}),
            }
            for t in chat.tools
        ]
    choice = _tool_choice(chat.tool_choice, chat.parallel_tool_calls, bool(chat.tools))
    if choice is not None:
        body["tool_choice"] = choice
    if chat.user:
        body["metadata"] = {"user_id": chat.user}
    if chat.stream:
        body["stream"] = True
    return body


def _tool_choice(
    choice: ToolChoice | None, parallel: bool | None, has_tools: bool
) -> dict[str, Any] | None:
    if choice is None and (parallel is not False or not has_tools):
        return None
    mode = choice.mode if choice is not None else "auto"
    out: dict[str, Any] = {"type": {"required": "any"}.get(mode, mode)}
    if mode == "tool":
        out["name"] = choice.name  # type: ignore[union-attr]
    if parallel is False and mode != "none":
        out["disable_parallel_tool_use"] = True
    return out


def _messages(messages: list[Message]) -> list[dict[str, Any]]:
    """Messages as content blocks; consecutive turns of one role are merged (OpenAI sends one
    `tool` message per result, Anthropic wants them together in one user turn)."""
    out: list[dict[str, Any]] = []
    for message in messages:
        blocks = [block for part in message.parts if (block := _block(part)) is not None]
        if not blocks:
            continue
        if out and out[-1]["role"] == message.role:
            out[-1]["content"].extend(blocks)
        else:
            out.append({"role": message.role, "content": blocks})
    return out


def _block(part: Any) -> dict[str, Any] | None:
    if isinstance(part, TextPart):
        return {"type": "text", "text": part.text} if part.text else None
    if isinstance(part, ImagePart):
        return _image(part)
    if isinstance(part, ToolCall):
        return {"type": "tool_use", "id": part.id, "name": part.name, "input": _arguments(part)}
    if isinstance(part, ToolResult):
        result: dict[str, Any] = {
            "type": "tool_result",
            "tool_use_id": part.call_id,
            "content": [b for p in part.content if (b := _block(p)) is not None],
        }
        if part.is_error:
            result["is_error"] = True
        return result
    return None


def _image(part: ImagePart) -> dict[str, Any]:
    if part.url is not None:
        return {"type": "image", "source": {"type": "url", "url": part.url}}
    source = {"type": "base64", "media_type": part.media_type, "data": part.data}
    return {"type": "image", "source": source}


def _arguments(call: ToolCall) -> Any:
    try:
        value = orjson.loads(call.arguments or "{}")
    except orjson.JSONDecodeError:
        raise BadRequest(
            f"the arguments of tool call {call.id!r} are not valid JSON", param="messages"
        ) from None
    if not isinstance(value, dict):
        raise BadRequest(
            f"the arguments of tool call {call.id!r} must be a JSON object", param="messages"
        )
    return value
