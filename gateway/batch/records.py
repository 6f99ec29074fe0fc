"""A deferred call as a new row, and as `/v1/gateway/requests/{id}` and callbacks show it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Row

from gateway.auth import Identity
from gateway.batch.queue import Lane
from gateway.batch.store import QUEUED
from gateway.config import ModelConfig
from gateway.ledger.database import as_utc, now
from gateway.providers.base import Provider

NATIVE_KINDS = ("openai", "anthropic")


def lane_kind(provider: Provider) -> str:
    """`native` (a provider Batch API) where configured and supported, else `emulated`."""
    native = provider.config.batch == "native" and provider.kind in NATIVE_KINDS
    return "native" if native else "emulated"


def new_call(
    call_id: str,
    identity: Identity,
    model: ModelConfig,
    provider: Provider,
    route: str,
    shape: str,
    body: dict[str, Any],
    *,
    client_headers: Mapping[str, str] | None = None,
    callback_url: str | None = None,
    custom_id: str | None = None,
    batch_id: str | None = None,
) -> dict[str, Any]:
    """The `batch_calls` row of a call just deferred (queued)."""
    moment = now()
    return {
        "id": call_id,
        "workload": identity.workload,
        "key_id": identity.key_id,
        "model": model.name,
        "provider": provider.name,
        "route": route,
        "shape": shape,
        "lane": lane_kind(provider),
        "status": QUEUED,
        "body": body,
        "client_headers": dict(client_headers) if client_headers else None,
        "custom_id": custom_id,
        "batch_id": batch_id,
        "attempts": 0,
        "callback_url": callback_url,
        "delivery_attempts": 0,
        "created_at": moment,
        "updated_at": moment,
    }


def lane_of(row: Any) -> Lane:
    return (row["provider"], row["model"]) if isinstance(row, dict) else (row.provider, row.model)


def describe(row: Row[Any], ledger_record: dict[str, Any] | None) -> dict[str, Any]:
    """The call's record: its ledger row (once it has one) with the deferred call's status."""
    callback = None
    if row.callback_url:
        callback = {
            "url": row.callback_url,
            "delivery": row.delivery,
            "attempts": row.delivery_attempts,
            "error": row.delivery_error,
        }
    view = {
        "id": row.id,
        "object": "gateway.request",
        "status": row.status,
        "mode": "batch",
        "workload": row.workload,
        "model": row.model,
        "provider": row.provider,
        "route": row.route,
        "http_status": row.http_status,
        "error": row.error,
        "created_at": as_utc(row.created_at),
        "finished_at": as_utc(row.finished_at),
        "batch": {
            "lane": row.lane,
            "job_id": row.job_id,
            "batch_id": row.batch_id,
            "custom_id": row.custom_id,
            "attempts": row.attempts,
            "callback": callback,
        },
    }
    if ledger_record is None:
        return {**view, "response": None}
    return {**ledger_record, **view}
