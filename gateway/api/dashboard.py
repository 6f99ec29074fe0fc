"""The built-in dashboard: `GET /dashboard` (static page) and its data, `/v1/gateway/dashboard`.

The page itself holds no figures; it asks for the admin key and sends it with every data
request, so without the key nothing but the sign-in form is shown.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache
from importlib import resources
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from gateway import metric_summary
from gateway.api.admin.budgets import read_budgets
from gateway.api.admin.deps import AdminIdentity, LedgerDep, database_errors
from gateway.auth import ADMIN
from gateway.errors import LimitsUnavailable, NotFound
from gateway.ledger.models import as_decimal
from gateway.ledger.queries import MONEY
from gateway.ledger.timespec import parse_window

router = APIRouter(include_in_schema=False)

ASSETS = {
    "dashboard.html": "text/html; charset=utf-8",
    "dashboard.js": "text/javascript; charset=utf-8",
    "dashboard.css": "text/css; charset=utf-8",
}
SECURITY_HEADERS = {
    "content-security-policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
        "img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "cache-control": "no-store",
}
COUNTS = (
    "requests",
    "completed",
    "cancelled",
    "failed",
    "prompt_tokens",
    "completion_tokens",
    "cached_prompt_tokens",
    "cache_write_tokens",
    "cancelled_completion_tokens",
)


@cache
def _asset(name: str) -> bytes:
    return resources.files("gateway").joinpath("static", name).read_bytes()


def _static(name: str) -> Response:
    if name not in ASSETS:
        raise NotFound(f"no dashboard asset {name!r}")
    return Response(_asset(name), media_type=ASSETS[name], headers=SECURITY_HEADERS)


@router.get("/dashboard")
async def page() -> Response:
    """The page shell (no figures: they are fetched with the admin key)."""
    return _static("dashboard.html")


@router.get("/dashboard/{name}")
async def asset(name: str) -> Response:
    return _static(name)


def spend_split(rows: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Per-workload spend split into completed and cancelled (plus savings), and the totals.

    `cost_usd` includes the cancelled calls' cost; what is left is the completed calls' (and
    any partial bill of a failed call). The arithmetic is decimal, so the split and the totals
    add up to what the ledger holds; the figures leave as JSON numbers.
    """
    money = (*MONEY, "completed_cost_usd")
    workloads = []
    totals: dict[str, Any] = dict.fromkeys((*COUNTS, *money), 0)
    for row in rows:
        split = {name: row[name] for name in ("workload", *COUNTS, *MONEY)}
        completed = as_decimal(row["cost_usd"]) - as_decimal(row["cancelled_cost_usd"])
        split["completed_cost_usd"] = float(completed)
        workloads.append(split)
        for name in COUNTS:
            totals[name] += split[name]
        for name in money:
            totals[name] += as_decimal(split[name])
    for name in money:
        totals[name] = float(totals[name])
    return workloads, totals


@router.get("/v1/gateway/dashboard")
async def figures(
    request: Request, _: AdminIdentity, ledger: LedgerDep, since: str | None = None
) -> JSONResponse:
    """Spend per workload from the ledger, this gateway's measured latencies, its deployments'
    health, and budgets with their headroom (admin)."""
    start, _end = parse_window(since, None)
    try:
        budget_rows: list[dict[str, Any]] | None = await read_budgets(request, ADMIN)
    except LimitsUnavailable:
        budget_rows = None  # shown as unavailable; the rest of the page still works
    with database_errors():
        rows = await ledger.queries.spend(["workload"], start)
    workloads, totals = spend_split(rows)
    body = {
        "object": "gateway.dashboard",
        "generated_at": datetime.now(UTC).isoformat(),
        "since": since or None,
        "workloads": workloads,
        "totals": totals,
        "metrics": metric_summary.summary(),
        "deployments": request.app.state.gateway.router.describe(),
        "budgets": budget_rows,
        "workers": request.app.state.gateway.settings.workers,
    }
    return JSONResponse(body, headers={"cache-control": "no-store"})
