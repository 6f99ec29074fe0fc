"""The OpenAI Batch API on the gateway, for any model: create, retrieve, list, cancel."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from gateway.api.admin.deps import CallerIdentity, gateway_state, parse_limit
from gateway.api.validation import parse_json_object

router = APIRouter(prefix="/v1/batches", include_in_schema=False)


@router.post("")
async def create(request: Request, identity: CallerIdentity) -> dict[str, Any]:
    """`{input_file_id, endpoint, completion_window: "24h", metadata}`."""
    body = parse_json_object(await request.body())
    return await gateway_state(request).batch.batch_api().create(identity, body)


@router.get("")
async def list_batches(
    request: Request, identity: CallerIdentity, limit: str | None = None, after: str | None = None
) -> dict[str, Any]:
    """Newest first; `after` is the last id of the previous page."""
    api = gateway_state(request).batch.batch_api()
    return await api.list(identity, parse_limit(limit, default=20, maximum=100), after)


@router.get("/{batch_id}")
async def retrieve(batch_id: str, request: Request, identity: CallerIdentity) -> dict[str, Any]:
    return await gateway_state(request).batch.batch_api().retrieve(identity, batch_id)


@router.post("/{batch_id}/cancel")
async def cancel(batch_id: str, request: Request, identity: CallerIdentity) -> dict[str, Any]:
    return await gateway_state(request).batch.batch_api().cancel(identity, batch_id)
