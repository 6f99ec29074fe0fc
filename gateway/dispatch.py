"""How a call reaches its provider: relayed natively when the caller's API is the provider's
own, else translated. The one place that decides it, for live and deferred calls alike."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gateway.config import ModelConfig
from gateway.errors import BadRequest
from gateway.providers.base import Provider, Route, UpstreamRequest
from gateway.proxy import Reply
from gateway.routing.deployment import Deployment
from gateway.routing.plan import Build
from gateway.streaming.relay import NativeReply
from gateway.translate.anthropic_request import decode_messages
from gateway.translate.anthropic_response import AnthropicEncoder
from gateway.translate.gemini_embed import GeminiEmbedReply, embeddings_body
from gateway.translate.gemini_request import decode_generate
from gateway.translate.gemini_response import GeminiEncoder
from gateway.translate.openai_request import decode_chat, include_usage
from gateway.translate.openai_response import OpenAIEncoder
from gateway.translate.reply import TranslatedReply
from gateway.translate.responses_reply import NativeResponses, TranslatedResponses
from gateway.translate.responses_request import decode_responses, responses_param
from gateway.translate.responses_response import ResponsesEncoder, echo_of

# What the gateway does itself on a Responses call, never sent upstream.
_GATEWAY_ONLY = ("previous_response_id", "background")


def builder(
    shape: str,
    route: str,
    body: dict[str, Any],
    call_id: str,
    *,
    stream: bool,
    client_headers: Mapping[str, str] | None = None,
) -> Build:
    """How the call is sent to any deployment (`upstream_call` for its provider and model): a
    retry on a provider of another kind gets its own request, from the client's body."""

    def build(deployment: Deployment) -> tuple[UpstreamRequest, Reply]:
        return upstream_call(
            deployment.provider, deployment.model, shape, route, body, call_id,
            stream=stream, client_headers=client_headers,
        )

    return build


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
    """The upstream request for a call in API `shape` ("openai" | "anthropic" | "responses" |
    "gemini"), and how its answer reaches the caller. Raises BadRequest for what cannot be
    translated."""
    if shape == "responses":
        return _responses_call(provider, model, body, call_id, stream=stream)
    if shape == "gemini":
        return _gemini_call(provider, model, route, body, call_id, stream=stream)
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


def _responses_call(
    provider: Provider, model: ModelConfig, body: dict[str, Any], call_id: str, *, stream: bool
) -> tuple[UpstreamRequest, Reply]:
    """A Responses API call: relayed to a server that has the API, else translated. The body's
    `input` already holds the conversation `previous_response_id` named (the gateway's store)."""
    if provider.config.serves_responses:
        upstream = {k: v for k, v in body.items() if k not in _GATEWAY_ONLY}
        upstream["stream"] = stream
        request = provider.build_request(
            "responses", upstream, model, stream=stream, call_id=call_id
        )
        return request, NativeResponses(provider)
    chat = decode_responses(body, provider.kind)
    chat.stream = stream
    try:
        request = provider.build_chat_request(chat, model, call_id=call_id)
    except BadRequest as err:
        raise responses_param(err) from None
    encoder = ResponsesEncoder(call_id, model.name, echo_of(body))
    return request, TranslatedResponses(provider, encoder)
def _gemini_call(
    provider: Provider,
    model: ModelConfig,
    route: str,
    body: dict[str, Any],
    call_id: str,
    *,
    stream: bool,
) -> tuple[UpstreamRequest, Reply]:
    gemini_route: Route = route  # type: ignore[assignment]
    if provider.kind == "gemini":
        request = provider.build_request(gemini_route, body, model, stream=stream, call_id=call_id)
        return request, NativeReply(provider, gemini_route)
    if route != "gemini":
        if provider.kind != "openai":
            raise BadRequest(
                f"model {model.name!r} is served by a {provider.kind} provider, which has no "
                "embeddings API",
                param="model",
            )
        batch = route == "gemini_batch_embed"
        request = provider.build_request(
            "embeddings", embeddings_body(body, batch), model, stream=False, call_id=call_id
        )
        return request, GeminiEmbedReply(provider, batch)
    chat = decode_generate(body, provider.kind)
    chat.stream = stream
    request = provider.build_chat_request(chat, model, call_id=call_id)
    return request, TranslatedReply(provider, GeminiEncoder(call_id, model.name))
