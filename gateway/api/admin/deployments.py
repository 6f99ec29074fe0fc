"""`GET /v1/gateway/deployments` (admin): every model's deployments, their health and figures.

Health (ok / cooling down until) is shared by every replica on the same Redis; in flight, TTFT,
output speed, counts and recent errors are this process's own.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from gateway.api.admin.deps import AdminIdentity, gateway_state

router = APIRouter()


@router.get("/deployments")
async def deployments(request: Request, _: AdminIdentity) -> JSONResponse:
    router_ = gateway_state(request).router
    body = {
        "object": "list",
        "shared_cooldowns": router_.cooldowns.shared,
        "data": router_.describe(),
    }
    return JSONResponse(body, headers={"cache-control": "no-store"})
