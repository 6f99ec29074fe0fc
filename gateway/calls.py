"""A proxied call as the request path sees it; the ledger and metrics read it when it ends."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from gateway.auth import Identity
from gateway.config import ModelConfig
from gateway.streaming.meter import Meter

CallStatus = Literal["completed", "cancelled", "failed"]
CallMode = Literal["stream", "sync", "batch"]


@dataclass(slots=True)
class Call:
    id: str
    identity: Identity
    route: str
    model: ModelConfig
    provider: str
    mode: CallMode
    meter: Meter = field(default_factory=Meter)
    status: CallStatus = "completed"
    http_status: int = 200
    streaming_started: bool = False  # the client has the stream's headers
    cancel_reason: str | None = None
    abort_seconds: float | None = None
    error: str | None = None
    request_body: dict[str, Any] | None = None  # read lazily to count prompt tokens if needed
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    finished_at: datetime | None = None

    def cancel(self, reason: str, abort_seconds: float | None) -> None:
        self.status = "cancelled"
        self.cancel_reason = reason
        self.abort_seconds = abort_seconds
        self.http_status = 499

    def fail(self, status: int, message: str) -> None:
        self.status = "failed"
        self.http_status = status
        self.error = message
