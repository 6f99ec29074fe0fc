"""Stored responses (`store: true`) in the ledger's database, so every replica can answer
`GET /v1/responses/{id}`, its input items, and continue a `previous_response_id` chain.

A row holds the Response object as the client saw it (updated while a background response
runs), the input items of its own request, and for background responses the process running
it (`owner`) with a lease it renews; a row whose lease lapsed is shown failed.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    Double,
    Index,
    Row,
    String,
    Table,
    and_,
    delete,
    select,
    update,
)

from gateway.ledger.database import Database, insert_for, now
from gateway.ledger.models import Document, Timestamp, metadata

RUNNING = ("queued", "in_progress")
MAX_CHAIN = 1000

responses = Table(
    "responses",
    metadata,
    Column("id", String(64), primary_key=True),  # the id the client saw (resp_...)
    Column("call_id", String(32), nullable=False),  # the ledger id of the call
    Column("workload", String(64), nullable=False),
    Column("model", String(128), nullable=False),
    Column("status", String(16), nullable=False),
    Column("background", Boolean, nullable=False, default=False),
    Column("previous_response_id", String(64)),
    Column("input", Document, nullable=False),  # this request's input items
    Column("response", Document, nullable=False),  # the Response object
    Column("owner", String(96)),  # the process running a background response
    Column("lease_until", Double),  # epoch seconds; renewed while it runs
    Column("cancel_requested", Boolean, nullable=False, default=False),
    Column("created_at", Timestamp, nullable=False),
    Column("updated_at", Timestamp, nullable=False),
    Index("ix_responses_workload_created_at", "workload", "created_at"),
    Index("ix_responses_status_lease_until", "status", "lease_until"),
)


class ResponseStore:
    def __init__(self, database: Database) -> None:
        self.database = database

    async def save(self, row: dict[str, Any]) -> None:
        """Insert a response, or replace its object and status (the same id saved again)."""
        await self.database.ensure_ready()
        row = {"updated_at": now(), **row}
        row.setdefault("created_at", row["updated_at"])
        statement = insert_for(self.database.engine, responses).values(row)
        changed = {k: statement.excluded[k] for k in ("status", "response", "updated_at")}
        statement = statement.on_conflict_do_update(  # only the same call updates its row
            index_elements=["id"], set_=changed, where=responses.c.call_id == row["call_id"]
        )
        async with self.database.engine.begin() as conn:
            await conn.execute(statement)

    async def progress(self, response_id: str, response: dict[str, Any]) -> None:
        """The latest object of a running background response (not once it has ended)."""
        statement = (
            update(responses)
            .where(responses.c.id == response_id, responses.c.status.in_(RUNNING))
            .values(response=response, updated_at=now())
        )
        async with self.database.engine.begin() as conn:
            await conn.execute(statement)

    async def get(self, response_id: str) -> Row[Any] | None:
        await self.database.ensure_ready()
        async with self.database.engine.connect() as conn:
            result = await conn.execute(select(responses).where(responses.c.id == response_id))
            return result.first()

    async def delete(self, response_id: str) -> None:
        async with self.database.engine.begin() as conn:
            await conn.execute(delete(responses).where(responses.c.id == response_id))

    async def chain(self, response_id: str, workload: str | None) -> list[Row[Any]] | None:
        """The responses of a chain, oldest first, ending with `response_id` (None if that one
        is not there, or not `workload`'s)."""
        rows: list[Row[Any]] = []
        next_id: str | None = response_id
        while next_id is not None and len(rows) < MAX_CHAIN:
            row = await self.get(next_id)
            if row is None or (workload is not None and row.workload != workload):
                if not rows:
                    return None
                break  # an earlier link was deleted: the chain starts after it
            rows.append(row)
            next_id = row.previous_response_id
        rows.reverse()
        return rows

    async def renew(self, ids: Iterable[str], owner: str, lease_until: float) -> list[str]:
        """Extend this process's leases; the ids whose cancel was asked for elsewhere."""
        ids = list(ids)
        if not ids:
            return []
        mine = and_(responses.c.id.in_(ids), responses.c.owner == owner)
        async with self.database.engine.begin() as conn:
            await conn.execute(update(responses).where(mine).values(lease_until=lease_until))
            asked = await conn.execute(
                select(responses.c.id).where(mine, responses.c.cancel_requested.is_(True))
            )
            return [row.id for row in asked]

    async def request_cancel(self, response_id: str) -> None:
        statement = (
            update(responses)
            .where(responses.c.id == response_id, responses.c.status.in_(RUNNING))
            .values(cancel_requested=True)
        )
        async with self.database.engine.begin() as conn:
            await conn.execute(statement)

    async def abandoned(self) -> list[Row[Any]]:
        """Background responses whose process stopped renewing its lease."""
        query = select(responses).where(
            responses.c.status.in_(RUNNING), responses.c.lease_until < time.time()
        )
        async with self.database.engine.connect() as conn:
            return list((await conn.execute(query)).all())

    async def mark_failed(self, row: Row[Any], response: dict[str, Any]) -> bool:
        """Fail an abandoned response, unless its lease was renewed meanwhile."""
        statement = (
            update(responses)
            .where(
                responses.c.id == row.id,
                responses.c.status.in_(RUNNING),
                responses.c.lease_until == row.lease_until,
            )
            .values(status="failed", response=response, updated_at=now())
        )
        async with self.database.engine.begin() as conn:
            return bool((await conn.execute(statement)).rowcount)
