"""Admin and ledger routes under /v1/gateway: call records, spend, stored keys, deployments,
budgets."""

from __future__ import annotations

from fastapi import APIRouter

from gateway.api.admin import budgets, deployments, keys, records

router = APIRouter(prefix="/v1/gateway", include_in_schema=False)
router.include_router(records.router)
router.include_router(keys.router)
router.include_router(deployments.router)
router.include_router(budgets.router)
