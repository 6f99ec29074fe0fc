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
from gateway.dispatch import upstream_call
from gateway.providers.base import Provider, UpstreamRequest
from gateway.proxy import Reply

Shape = Literal["openai", "anthropic", "responses", "gemini"]
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
    request, reply = upstream_call(
        provider, model, shape, route, body, call_id, stream=False, client_headers=client_headers
    )
    return Prepared(request, reply)


def prepare_call(settings: Settings, provider: Provider, row: Any) -> Prepared:
    """`prepare` for a stored call (a `batch_calls` row)."""
    model = stored_model(settings, row.model, row.provider)
    return prepare(provider, model, row.shape, row.route, row.body, row.id, row.client_headers)


def stored_model(settings: Settings, name: str, provider: str) -> ModelConfig:
    """The configured model of a stored call (a bare one, unpriced, if it was removed since)."""
    return settings.model(name) or ModelConfig.model_validate({"name": name, "provider": provider})


def upstream_route(provider: Provider, shape: str, route: str) -> str:
    """The provider API a call is sent to: calls of one lane share a job only if this matches."""
    if provider.kind == "anthropic":
        return "messages"
    if route == "responses":
        return "responses" if provider.config.serves_responses else "chat"
    if shape == "openai":
        return route
    return "embeddings" if route in ("gemini_embed", "gemini_batch_embed") else "chat"
