"""Reading the ledger: one call, recent calls, and spend rolled up by workload, model, ..."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, case, func, select
from sqlalchemy.sql.elements import ColumnElement

from gateway.errors import BadRequest
from gateway.ledger.database import Database, as_utc
from gateway.ledger.models import CALL_COLUMNS, calls

STATUSES = ("completed", "cancelled", "failed")
GROUPS: dict[str, ColumnElement[Any]] = {
    name: calls.c[name] for name in ("workload", "model", "provider", "route", "mode")
}
MONEY = ("cost_usd", "cancelled_cost_usd", "batch_savings_usd")
TOKENS = (
    "prompt_tokens",
    "completion_tokens",
    "billed_completion_tokens",
    "cached_prompt_tokens",
    "cache_write_tokens",
)
MAX_LIMIT = 1000
_TIMES = ("created_at", "finished_at")


def call_record(row: Any) -> dict[str, Any]:
    """A ledger row as the API shows it: money as JSON numbers (the nearest float to the
    exact stored amount, whose decimal text it prints), times in UTC."""
    record: dict[str, Any] = {"id": row.id, "object": "gateway.request"}
    for name in CALL_COLUMNS:
        value = getattr(row, name)
        if name in _TIMES:
            value = as_utc(value)
        elif isinstance(value, Decimal):
            value = float(value)
        record[name] = value
    return record


def _sum(expression: Any) -> Any:
    return func.coalesce(func.sum(expression), 0)


def _spend_columns() -> list[Any]:
    c = calls.c
    undelivered = c.billed_completion_tokens - c.completion_tokens
    columns = [func.count().label("requests")]
    columns += [_sum(case((c.status == s, 1), else_=0)).label(s) for s in STATUSES]
    columns += [_sum(c[name]).label(name) for name in TOKENS]
    columns.append(
        _sum(case((and_(c.status == "cancelled", undelivered > 0), undelivered), else_=0)).label(
            "cancelled_completion_tokens"
        )
    )
    columns += [_sum(c[name]).label(name) for name in MONEY]
    return columns


def parse_groups(value: str) -> list[str]:
    """`workload,model` -> the group columns; an unknown name is a 400 naming `group_by`."""
    groups: list[str] = []
    for name in (part.strip() for part in value.split(",")):
        if not name or name in groups:
            continue
        if name not in GROUPS:
            raise BadRequest(
                f"group_by: unknown field {name!r}; use any of {', '.join(GROUPS)}",
                param="group_by",
            )
        groups.append(name)
    return groups


class LedgerQueries:
    def __init__(self, database: Database) -> None:
        self.database = database

    async def get(self, call_id: str) -> dict[str, Any] | None:
        async with self.database.engine.connect() as conn:
            row = (await conn.execute(select(calls).where(calls.c.id == call_id))).first()
        return None if row is None else call_record(row)

    async def recent(
        self, *, workload: str | None = None, status: str | None = None, limit: int = 100
    ) -> list[dict[str, Any]]:
        """Newest first."""
        query = select(calls).order_by(calls.c.created_at.desc(), calls.c.id.desc())
        if workload:
            query = query.where(calls.c.workload == workload)
        if status:
            query = query.where(calls.c.status == status)
        async with self.database.engine.connect() as conn:
            rows = await conn.execute(query.limit(max(1, min(limit, MAX_LIMIT))))
            return [call_record(row) for row in rows]

    async def spend(
        self, group_by: Sequence[str], since: datetime | None = None, until: datetime | None = None
    ) -> list[dict[str, Any]]:
        """One row per group (most expensive first): counts, tokens, cost, savings."""
        keys = [GROUPS[name].label(name) for name in group_by]
        query = select(*keys, *_spend_columns()).group_by(*(GROUPS[n] for n in group_by))
        if since is not None:
            query = query.where(calls.c.created_at >= since)
        if until is not None:
            query = query.where(calls.c.created_at < until)
        query = query.order_by(func.sum(calls.c.cost_usd).desc(), *(GROUPS[n] for n in group_by))
        async with self.database.engine.connect() as conn:
            result = await conn.execute(query)
            return [_spend_row(row._asdict()) for row in result]


    async def spent(self, since: datetime) -> list[tuple[str, str | None, Decimal]]:
        """Exact spend per (workload, key id) of the calls made since a moment."""
        c = calls.c
        query = (
            select(c.workload, c.key_id, func.sum(c.cost_usd))
            .where(c.created_at >= since)
            .group_by(c.workload, c.key_id)
        )
        async with self.database.engine.connect() as conn:
            rows = await conn.execute(query)
            return [(row[0], row[1], row[2] or Decimal(0)) for row in rows]


def _spend_row(row: dict[str, Any]) -> dict[str, Any]:
    """Counts as ints; money summed exactly by the database, then a JSON number."""
    for name, value in row.items():
        if name in MONEY:
            row[name] = float(value)
        elif name not in GROUPS:
            row[name] = int(value)
    return row
