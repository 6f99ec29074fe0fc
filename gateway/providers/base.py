"""The provider interface: build the upstream request, follow its stream, read its response."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, Protocol

from gateway.config import ModelConfig, ProviderConfig
from gateway.streaming.meter import Meter
from gateway.streaming.sse import SSEEvent

Route = Literal["chat", "completions", "embeddings", "messages"]


@dataclass(slots=True)
class UpstreamRequest:
    url: str
    headers: dict[str, str]
    body: bytes
    strip_usage: bool = False  # the gateway added include_usage; hide it from the client


class StreamTracker(Protocol):
    """Follows a same-protocol stream event by event; says whether to forward each one."""

    def observe(self, event: SSEEvent) -> bool: ...


class Provider:
    """Base class of the vendor adapters."""

    kind: str = ""

    def __init__(self, config: ProviderConfig) -> None:
        self.config = config
        self.name = config.name
        self._secret = config.api_key.get_secret_value() if config.api_key else None

    def build_request(
        self, route: Route, body: dict[str, Any], model: ModelConfig, *, stream: bool,
        call_id: str,
    ) -> UpstreamRequest:
        raise NotImplementedError

    def stream_tracker(self, route: Route, meter: Meter, *, strip_usage: bool) -> StreamTracker:
        raise NotImplementedError

    def read_response(self, route: Route, body: dict[str, Any], meter: Meter) -> None:
        """Record usage and output from a complete (non-streaming) response."""
        raise NotImplementedError

    def scrub(self, text: str) -> str:
        """Remove the provider's secret from text that may reach a client or a log."""
        if self._secret and self._secret in text:
            text = text.replace(self._secret, "[redacted]")
        return text
