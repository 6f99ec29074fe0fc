"""A deferred call's upstream request and reply, built the way the live endpoints build them.

The same call is prepared at accept time (so what cannot be translated is a 400 then), when
it runs or is packed into a provider job, and when its answer comes back (for the reply).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from gateway.config import ModelConfig, Settings
from gateway.errors import BadRequest
from gateway.providers.base import Provider, Route, UpstreamRequest
from gateway.proxy import Reply
from gateway.streaming.relay import NativeReply
from gateway.translate.anthropic_request import decode_messages
from gateway.translate.anthropic_response import AnthropicEncoder
from gateway.translate.openai_request import decode_chat
from gateway.translate.openai_response import OpenAIEncoder
from gateway.translate.reply import TranslatedReply

Shape = Literal["openai", "anthropic"]
_LIVE_ONLY = ("stream", "stream_options")


@dataclass(frozen=True, slots=True)
class Prepared:
    request: UpstreamRequest
    reply: Reply


def deferrable(body: dict[str, Any]) -> dict[str, Any]:
    """The body a deferred call keeps: its answer is one whole response, never a stream."""
    return {key: value for key, value in body.items() if key not in _LIVE_ONLY}


def prepare(
    provider: Provider,
    model: ModelConfig,
    shape: str,
    route: str,
    body: dict[str, Any],
    call_id: str,
    client_headers: Mapping[str, str] | None = None,
) -> Prepared:
    """The upstream request of a stored call (non-streaming) and how to read its answer."""
    body = copy.deepcopy(body)  # the providers rename the model in place
    if shape == "anthropic":
        if provider.kind == "anthropic":
            request = provider.build_request(
                "messages",
                body,
                model,
                stream=False,
                call_id=call_id,
                client_headers=client_headers,
            )
            return Prepared(request, NativeReply(provider, "messages"))
        chat = decode_messages(body, provider.kind)
        request = provider.build_chat_request(chat, model, call_id=call_id)
        return Prepared(request, TranslatedReply(provider, AnthropicEncoder(call_id, model.name)))
    openai_route: Route = route  # type: ignore[assignment]
    if provider.kind == "openai":
        request = provider.build_request(openai_route, body, model, stream=False, call_id=call_id)
        return Prepared(request, NativeReply(provider, openai_route))
    if route != "chat":
        raise BadRequest(
            f"model {model.name!r} is served by a {provider.kind} provider, which has no "
            f"{route} API; use /v1/chat/completions",
            param="model",
        )
    chat = decode_chat(body, provider.kind)
    request = provider.build_chat_request(chat, model, call_id=call_id)
    encoder = OpenAIEncoder(call_id, model.name, include_usage=False)
    return Prepared(request, TranslatedReply(provider, encoder))


def prepare_call(settings: Settings, provider: Provider, row: Any) -> Prepared:
    """`prepare` for a stored call (a `batch_calls` row)."""
    model = stored_model(settings, row.model, row.provider)
    return prepare(provider, model, row.shape, row.route, row.body, row.id, row.client_headers)


def stored_model(settings: Settings, name: str, provider: str) -> ModelConfig:
    """The configured model of a stored call (a bare one, unpriced, if it was removed since)."""
    return settings.model(name) or ModelConfig.model_validate({"name": name, "provider": provider})


def upstream_route(provider_kind: str, shape: str, route: str) -> str:
    """The provider API a call is sent to: calls of one lane share a job only if this matches."""
    if provider_kind == "anthropic":
        return "messages"
    return "chat" if shape == "anthropic" else route
