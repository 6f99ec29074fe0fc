"""How each client API shows an error: status, JSON body, and the in-stream event."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from gateway.errors import (
    GatewayError,
    anthropic_error_bytes,
    anthropic_error_event,
    anthropic_status,
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


def for_path(path: str) -> ErrorShape:
    """The shape of a route's errors: Anthropic's under /v1/messages, else OpenAI's."""
    return ANTHROPIC if path.startswith("/v1/messages") else OPENAI
