"""A proxied call as the request path sees it; the ledger and metrics read it when it ends.

`opening`, `outcome` and `restore` turn a call into plain data and back (the call journal
keeps it so a call survives a crash of the process)."""

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
    body_bytes: int | None = None  # the request body's size as received (None: not known)
    headers: tuple[tuple[bytes, bytes], ...] = ()  # for the client's answer (x-ratelimit-*)
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


def opening(call: Call, model: Any = None) -> dict[str, Any]:
    """What is known of a call when it starts, as plain data (`restore` rebuilds the call).

    `model` may stand in for the model's settings (an encoding cached by the caller)."""
    identity = call.identity
    return {
        "id": call.id,
        "workload": identity.workload,
        "key_id": identity.key_id,
        "route": call.route,
        "model": call.model.model_dump(mode="json") if model is None else model,
        "provider": call.provider,
        "mode": call.mode,
        "created_at": call.created_at,
    }


def outcome(call: Call, *, text: bool) -> dict[str, Any]:
    """The final facts of a call; `text` adds the delivered text (for the tokenizer)."""
    meter = call.meter
    return {
        "status": call.status,
        "http_status": call.http_status,
        "cancel_reason": call.cancel_reason,
        "abort_seconds": call.abort_seconds,
        "error": call.error,
        "streaming_started": call.streaming_started,
        "finished_at": call.finished_at or datetime.now(UTC),
        "sent": _since(meter, meter.upstream_sent_at),
        "first_token": _since(meter, meter.first_token_at),
        "last_token": _since(meter, meter.last_token_at),
        "prompt_tokens": meter.prompt_tokens,
        "completion_tokens": meter.completion_tokens,
        "chunks": meter.delivered_chunks,
        "finish_reason": meter.finish_reason,
        "done": meter.done,
        "text": meter.delivered_text if text else None,
    }


def restore(facts: dict[str, Any]) -> Call:
    """A call rebuilt from `opening` facts, updated with `outcome` facts when present."""
    known = ModelConfig.model_fields
    model = ModelConfig.model_validate({k: v for k, v in facts["model"].items() if k in known})
    meter = Meter(started=0.0)
    meter.upstream_sent_at = facts.get("sent")
    meter.first_token_at = facts.get("first_token")
    meter.last_token_at = facts.get("last_token")
    meter.set_usage(facts.get("prompt_tokens"), facts.get("completion_tokens"))
    meter.delivered = [facts["text"]] if facts.get("text") else []
    meter.delivered_chunks = facts.get("chunks") or 0
    meter.finish_reason = facts.get("finish_reason")
    meter.done = bool(facts.get("done"))
    call = Call(
        id=facts["id"],
        identity=Identity(facts["workload"], key_id=facts.get("key_id")),
        route=facts["route"],
        model=model,
        provider=facts["provider"],
        mode=facts["mode"],
        meter=meter,
        request_body=facts.get("body"),
        created_at=_moment(facts["created_at"]) or datetime.now(UTC),
        finished_at=_moment(facts.get("finished_at")),
    )
    call.status = facts.get("status", call.status)
    call.http_status = facts.get("http_status", call.http_status)
    call.cancel_reason = facts.get("cancel_reason")
    call.abort_seconds = facts.get("abort_seconds")
    call.error = facts.get("error")
    call.streaming_started = bool(facts.get("streaming_started"))
    return call


def _since(meter: Meter, moment: float | None) -> float | None:
    return None if moment is None else moment - meter.started


def _moment(value: Any) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(value)
