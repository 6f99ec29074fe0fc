"""Anthropic Message Batches on the gateway, for any model: create, list, retrieve, cancel,
results (JSONL) and delete. Errors in Anthropic's shape (the app renders every error under
`/v1/messages` that way)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from gateway.api.admin.deps import CallerIdentity, gateway_state, parse_limit
from gateway.api.anthropic import forwarded_headers
from gateway.api.asgi import read_body
from gateway.api.validation import parse_json_object
from gateway.batch.message_batches import MessageBatches

router = APIRouter(prefix="/v1/messages/batches", include_in_schema=False)


def service(request: Request) -> MessageBatches:
    return gateway_state(request).batch.message_batches()


def base_url(request: Request) -> str:
    """This gateway as the client reached it: `results_url` is absolute, as Anthropic's is."""
    return str(request.base_url).rstrip("/")


@router.post("")
async def create(request: Request, identity: CallerIdentity) -> dict[str, Any]:
    """`{"requests": [{"custom_id", "params"}, ...]}`."""
    limit = gateway_state(request).settings.batch_file_max_bytes
    body = parse_json_object(await read_body(request.scope, request.receive, limit))
    headers = forwarded_headers(request.scope)
    return await service(request).create(identity, body, headers, base_url(request))


@router.get("")
async def list_batches(
    request: Request,
    identity: CallerIdentity,
    limit: str | None = None,
    after_id: str | None = None,
) -> dict[str, Any]:
    """Newest first; `after_id` is the last id of the previous page."""
    size = parse_limit(limit, default=20, maximum=1000)
    return await service(request).list(identity, size, after_id, base_url(request))


@router.get("/{batch_id}")
async def retrieve(batch_id: str, request: Request, identity: CallerIdentity) -> dict[str, Any]:
    return await service(request).retrieve(identity, batch_id, base_url(request))


@router.post("/{batch_id}/cancel")
async def cancel(batch_id: str, request: Request, identity: CallerIdentity) -> dict[str, Any]:
    return await service(request).cancel(identity, batch_id, base_url(request))


@router.get("/{batch_id}/results")
async def results(batch_id: str, request: Request, identity: CallerIdentity) -> Response:
    data = await service(request).results(identity, batch_id)
    return Response(data, media_type="application/binary")


@router.delete("/{batch_id}")
async def delete(batch_id: str, request: Request, identity: CallerIdentity) -> dict[str, Any]:
    return await service(request).delete(identity, batch_id)
