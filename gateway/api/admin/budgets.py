"""`GET /v1/gateway/budgets`: limits, budgets and headroom now (admin: all; a workload key:
its workload's and its own)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from gateway.api.admin.deps import CallerIdentity, gateway_state
from gateway.auth import Identity
from gateway.budgets.report import budgets
from gateway.errors import LimitsUnavailable

router = APIRouter()


async def read_budgets(request: Request, identity: Identity) -> list[dict[str, Any]]:
    """The figures, or a 503 when the limits' store does not answer."""
    try:
        return await budgets(gateway_state(request).limits, identity)
    except Exception as exc:
        raise LimitsUnavailable(
            f"the limits' store is unavailable: {type(exc).__name__}",
            headers={"retry-after": "1"},
        ) from exc


@router.get("/budgets")
async def list_budgets(request: Request, identity: CallerIdentity) -> dict[str, Any]:
    return {"object": "list", "data": await read_budgets(request, identity)}
