"""Gemini: the client's own generateContent, countTokens and embedding calls relayed, and
neutral requests built as Gemini calls.

The key goes in `x-goog-api-key`; streams use `:streamGenerateContent?alt=sse`. A relayed body
is the client's with only the gateway's `model` key taken out (the model is in the path).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from gateway.config import ModelConfig
from gateway.errors import BadRequest
from gateway.providers.base import Provider, Route, UpstreamRequest, json_body
from gateway.providers.gemini_stream import GeminiParser, GeminiStream, parse_generation
from gateway.streaming.meter import Meter
from gateway.translate.refusal import refuse
from gateway.translate.types import (
    ChatRequest,
    ChatResponse,
    ImagePart,
    TextPart,
    ToolCall,
    ToolResult,
)

_CONFIG_FIELDS = {
    "max_tokens": "maxOutputTokens",
    "temperature": "temperature",
    "top_p": "topP",
    "top_k": "topK",
    "presence_penalty": "presencePenalty",
    "frequency_penalty": "frequencyPenalty",
    "seed": "seed",
}
_CALLING_MODES = {"auto": "AUTO", "none": "NONE", "required": "ANY", "tool": "ANY"}
_METHODS = {"gemini_embed": "embedContent", "gemini_batch_embed": "batchEmbedContents"}


class GeminiProvider(Provider):
    kind = "gemini"

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
        """generateContent (`gemini`) or an embedding call, as the client sent it."""
        body.pop("model", None)
        if route == "gemini_batch_embed":
            for item in body.get("requests") or ():
                if isinstance(item, dict):
                    item["model"] = f"models/{model.upstream_name}"
        method = _METHODS.get(route)
        if method is None:
            method = "streamGenerateContent?alt=sse" if stream else "generateContent"
        return self._request(model, method, body, call_id)

    def build_count_request(
        self,
        body: dict[str, Any],
        model: ModelConfig,
        *,
        call_id: str,
        client_headers: Mapping[str, str] | None = None,
    ) -> UpstreamRequest:
        body.pop("model", None)
        return self._request(model, "countTokens", body, call_id)

    def stream_tracker(self, route: Route, meter: Meter, *, strip_usage: bool) -> GeminiStream:
        return GeminiStream(self.stream_parser(), meter)

    def read_response(self, route: Route, body: dict[str, Any], meter: Meter) -> None:
        if route == "gemini":
            super().read_response(route, body, meter)
        else:  # embeddings report no usage: the prompt is counted from the request
            meter.done = True

    def _request(
        self, model: ModelConfig, method: str, body: dict[str, Any], call_id: str
    ) -> UpstreamRequest:
        url = self.endpoint(f"/v1beta/models/{model.upstream_name}:{method}")
        headers = self.base_headers(call_id)
        if self._secret:
            headers["x-goog-api-key"] = self._secret
        return UpstreamRequest(url, headers, json_body(body))

    def build_chat_request(
        self, chat: ChatRequest, model: ModelConfig, *, call_id: str
    ) -> UpstreamRequest:
        method = "streamGenerateContent?alt=sse" if chat.stream else "generateContent"
        return self._request(model, method, generate_body(chat), call_id)

    def stream_parser(self) -> GeminiParser:
        return GeminiParser(self)

    def parse_response(self, body: dict[str, Any]) -> ChatResponse:
        return parse_generation(body)


def generate_body(chat: ChatRequest) -> dict[str, Any]:
    """A GenerateContentRequest. `user` has no Gemini field and is not forwarded."""
    if chat.parallel_tool_calls is False:
        raise refuse("parallel_tool_calls", "gemini", "Gemini cannot be limited to one call")
    body: dict[str, Any] = {"contents": _contents(chat)}
    if chat.system:
        body["systemInstruction"] = {"parts": [{"text": chat.system}]}
    config: dict[str, Any] = {}
    for name, field in _CONFIG_FIELDS.items():
        value = getattr(chat, name)
        if value is not None:
            config[field] = value
    if chat.stop:
        config["stopSequences"] = chat.stop
    if chat.response_format is not None:
        config["responseMimeType"] = "application/json"
        if chat.response_format.schema is not None:
            config["responseJsonSchema"] = chat.response_format.schema
    if config:
        body["generationConfig"] = config
    if chat.tools:
        declarations = [
            {
                "name": t.name,
                "parametersJsonSchema": t.parameters,
                **({"description": t.description} if t.description else {}),
            }
            for t in chat.tools
        ]
        body["tools"] = [{"functionDeclarations": declarations}]
    if chat.tool_choice is not None:
        calling: dict[str, Any] = {"mode": _CALLING_MODES[chat.tool_choice.mode]}
        if chat.tool_choice.name:
            calling["allowedFunctionNames"] = [chat.tool_choice.name]
        body["toolConfig"] = {"functionCallingConfig": calling}
    return body


def _contents(chat: ChatRequest) -> list[dict[str, Any]]:
    """Turns as contents; consecutive turns of one role are merged, so the answers to
    parallel calls (one OpenAI `tool` message each) follow their calls in one content."""
    out: list[dict[str, Any]] = []
    for message in chat.messages:
        role = "model" if message.role == "assistant" else "user"
        parts = [_part(p, chat) for p in message.parts]
        if not parts:
            continue
        if out and out[-1]["role"] == role:
            out[-1]["parts"].extend(parts)
        else:
            out.append({"role": role, "parts": parts})
    return out


def _part(part: Any, chat: ChatRequest) -> dict[str, Any]:
    if isinstance(part, TextPart):
        return {"text": part.text}
    if isinstance(part, ImagePart):
        if part.url is not None:
            raise refuse(part.param, "gemini", "send the image inline as base64 data")
        return {"inlineData": {"mimeType": part.media_type, "data": part.data}}
    if isinstance(part, ToolCall):
        try:
            args = orjson.loads(part.arguments or "{}")
        except orjson.JSONDecodeError:
            raise BadRequest(
                f"the arguments of tool call {part.id!r} are not valid JSON", param="messages"
            ) from None
        return {"functionCall": {"name": part.name, "args": args}}
    assert isinstance(part, ToolResult)
    name = chat.tool_name(part.call_id)
    if name is None:
        raise BadRequest(
            f"tool result {part.call_id!r} answers no earlier tool call; Gemini needs the "
            "function's name",
            param="messages",
        )
    texts = []
    for item in part.content:
        if isinstance(item, ImagePart):
            raise refuse(item.param, "gemini", "Gemini function responses carry JSON only")
        texts.append(item.text)
    key = "error" if part.is_error else "output"
    return {"functionResponse": {"name": name, "response": {key: "\n".join(texts)}}}
