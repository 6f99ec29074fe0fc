"""How each client API shows an error: status, JSON body, and the in-stream event."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from gateway.errors import (
    GatewayError,
    anthropic_error_bytes,
    anthropic_error_event,
    anthropic_status,
    gemini_error_bytes,
    gemini_error_event,
    openai_error_bytes,
    openai_error_event,
)


@dataclass(frozen=True, slots=True)
class ErrorShape:
    status: Callable[[GatewayError], int]
    body: Callable[[GatewayError], bytes]
    stream_event: Callable[[GatewayError], bytes]  # after the stream started


def _own_status(err: GatewayError) -> int:
    return err.status


OPENAI = ErrorShape(_own_status, openai_error_bytes, openai_error_event)
ANTHROPIC = ErrorShape(anthropic_status, anthropic_error_bytes, anthropic_error_event)
GEMINI = ErrorShape(_own_status, gemini_error_bytes, gemini_error_event)
BY_API = {"openai": OPENAI, "anthropic": ANTHROPIC, "gemini": GEMINI}


def for_api(api: str) -> ErrorShape:
    """The error shape of a caller's API (`openai`, `anthropic`, `gemini`)."""
    return BY_API.get(api, OPENAI)


def for_path(path: str) -> ErrorShape:
    """The shape of a route's errors: Gemini's under /v1beta and for `/v1/models/{m}:verb`,
    Anthropic's under /v1/messages, else OpenAI's."""
    if path.startswith("/v1beta/") or (path.startswith("/v1/models/") and ":" in path):
        return GEMINI
    return ANTHROPIC if path.startswith("/v1/messages") else OPENAI
