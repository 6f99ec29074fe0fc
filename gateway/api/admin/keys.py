"""Stored API keys (admin): `POST/GET /v1/gateway/keys`, `DELETE /v1/gateway/keys/{id}`."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from gateway.api.admin.deps import AdminIdentity, LedgerDep, database_errors
from gateway.config import Limits
from gateway.ledger.keys import shown_limits

router = APIRouter()


class KeyRequest(BaseModel):
    workload: str
    limits: Limits | None = None  # the key's own limits, on top of its workload's


@router.post("/keys", status_code=201)
async def create_key(body: KeyRequest, _: AdminIdentity, ledger: LedgerDep) -> JSONResponse:
    """A new key for a workload; the response is the only time the key is shown."""
    with database_errors():
        new = await ledger.keys.create(body.workload, body.limits)
        await ledger.refresh_keys()
    record = {
        "id": new.id,
        "object": "gateway.key",
        "workload": new.workload,
        "key": new.key,
        "prefix": new.prefix + "...",
        "created_at": new.created_at,
        "revoked_at": None,
        "limits": shown_limits(new.limits),
    }
    return JSONResponse(jsonable_encoder(record), status_code=201)


@router.get("/keys")
async def list_keys(_: AdminIdentity, ledger: LedgerDep) -> dict[str, Any]:
    with database_errors():
        return {"object": "list", "data": await ledger.keys.list()}


@router.delete("/keys/{key_ref}")
async def revoke_key(key_ref: str, _: AdminIdentity, ledger: LedgerDep) -> dict[str, Any]:
    """Revoke by id or shown prefix; the running gateway stops accepting it at once."""
    with database_errors():
        record = await ledger.keys.revoke(key_ref)
        await ledger.refresh_keys()
    return record
