"""Ledger reads: `/v1/gateway/requests`, `/v1/gateway/requests/{id}`, `/v1/gateway/spend`."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from gateway.api.admin.deps import (
    AdminIdentity,
    CallerIdentity,
    LedgerDep,
    database_errors,
    gateway_state,
    parse_limit,
)
from gateway.errors import BadRequest, NotFound
from gateway.ledger.queries import STATUSES, parse_groups
from gateway.ledger.timespec import parse_window

router = APIRouter()
DEFAULT_GROUPS = "workload,model"


@router.get("/requests")
async def list_requests(
    _: AdminIdentity,
    ledger: LedgerDep,
    workload: str | None = None,
    status: str | None = None,
    limit: str | None = None,
) -> dict[str, Any]:
    """Newest ledger records first (admin)."""
    if status and status not in STATUSES:
        raise BadRequest(f"status: expected one of {', '.join(STATUSES)}", param="status")
    with database_errors():
        data = await ledger.queries.recent(
            workload=workload or None, status=status or None, limit=parse_limit(limit)
        )
    return {"object": "list", "data": data}


@router.get("/requests/{call_id}")
async def get_request(
    call_id: str, request: Request, identity: CallerIdentity, ledger: LedgerDep
) -> dict:
    """One record: the admin key reads any, a workload key only its workload's. A deferred
    call shows its batch status and, once done, its response body."""
    with database_errors():
        record = await ledger.queries.get(call_id)
        record = await gateway_state(request).batch.describe(call_id, record)
    if record is None or not (identity.admin or record["workload"] == identity.workload):
        raise NotFound(f"no request {call_id!r}", param="id")
    return record


@router.get("/spend")
async def spend(
    _: AdminIdentity,
    ledger: LedgerDep,
    group_by: str = DEFAULT_GROUPS,
    since: str | None = None,
    until: str | None = None,
) -> dict[str, Any]:
    """Spend rows per group: requests by outcome, tokens, cost, cancelled cost, batch savings."""
    groups = parse_groups(group_by)
    start, end = parse_window(since, until)
    with database_errors():
        data = await ledger.queries.spend(groups, start, end)
    return {"object": "list", "group_by": groups, "data": data}
