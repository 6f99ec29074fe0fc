"""OpenAI Files on the gateway (purpose `batch`): upload, retrieve, content."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from gateway.api.admin.deps import CallerIdentity, gateway_state
from gateway.api.asgi import header
from gateway.errors import BadRequest
from gateway.sim.multipart import MultipartError, parse_multipart

router = APIRouter(prefix="/v1/files", include_in_schema=False)


@router.post("")
async def upload(request: Request, identity: CallerIdentity) -> dict[str, Any]:
    """Multipart `file` and `purpose=batch`; the JSONL is checked line by line now.

    The form's size is bounded before it is read (`gateway.api.limits`, 413 file_too_large)."""
    api = gateway_state(request).batch.batch_api()
    raw = await request.body()
    content_type = header(request.scope, b"content-type")
    try:
        parts = parse_multipart(raw, content_type.decode("latin-1") if content_type else None)
    except MultipartError as exc:
        raise BadRequest(f"file upload: {exc}", param="file") from None
    file, purpose = parts.get("file"), parts.get("purpose")
    if file is None:
        raise BadRequest("Missing required parameter: 'file'.", param="file")
    purpose_text = purpose.data.decode("utf-8", "replace").strip() if purpose else ""
    return await api.upload(identity, file.filename or "upload.jsonl", purpose_text, file.data)


@router.get("/{file_id}")
async def retrieve(file_id: str, request: Request, identity: CallerIdentity) -> dict[str, Any]:
    return await gateway_state(request).batch.batch_api().file(identity, file_id)


@router.get("/{file_id}/content")
async def content(file_id: str, request: Request, identity: CallerIdentity) -> Response:
    data = await gateway_state(request).batch.batch_api().content(identity, file_id)
    return Response(data, media_type="application/octet-stream")
