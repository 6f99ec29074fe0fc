"""How a call reaches its provider: relayed natively when the caller's API is the provider's
own, else translated. The one place that decides it, for live and deferred calls alike."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gateway.config import ModelConfig
from gateway.errors import BadRequest
from gateway.providers.base import Provider, Route, UpstreamRequest
from gateway.proxy import Reply
from gateway.streaming.relay import NativeReply
from gateway.translate.anthropic_request import decode_messages
from gateway.translate.anthropic_response import AnthropicEncoder
from gateway.translate.openai_request import decode_chat, include_usage
from gateway.translate.openai_response import OpenAIEncoder
from gateway.translate.reply import TranslatedReply


def upstream_call(
    provider: Provider,
    model: ModelConfig,
    shape: str,
    route: str,
    body: dict[str, Any],
    call_id: str,
    *,
    stream: bool,
    client_headers: Mapping[str, str] | None = None,
) -> tuple[UpstreamRequest, Reply]:
    """The upstream request for a call in API `shape` ("openai" | "anthropic"), and how its
    answer reaches the caller. Raises BadRequest for what cannot be translated."""
    if shape == "anthropic":
        if provider.kind == "anthropic":
            request = provider.build_request(
                "messages", body, model, stream=stream, call_id=call_id,
                client_headers=client_headers,
            )
            return request, NativeReply(provider, "messages")
        chat = decode_messages(body, provider.kind)
        request = provider.build_chat_request(chat, model, call_id=call_id)
        return request, TranslatedReply(provider, AnthropicEncoder(call_id, model.name))
    openai_route: Route = route  # type: ignore[assignment]
    if provider.kind == "openai":
        request = provider.build_request(openai_route, body, model, stream=stream,
                                         call_id=call_id)
        return request, NativeReply(provider, openai_route, request.strip_usage)
    if route != "chat":
        raise BadRequest(
            f"model {model.name!r} is served by a {provider.kind} provider, which has no "
            f"{route} API; use /v1/chat/completions",
            param="model",
        )
    chat = decode_chat(body, provider.kind)
    request = provider.build_chat_request(chat, model, call_id=call_id)
    encoder = OpenAIEncoder(call_id, model.name, include_usage=include_usage(body))
    return request, TranslatedReply(provider, encoder)
