"""Batch API batches in the database (`batches`), and OpenAI's `batch` object.

A batch's calls are ordinary deferred calls (`batch_calls.batch_id`): its request counts are
counted from them, live.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Row, func, select, update

from gateway.batch.store import COMPLETED, WAITING
from gateway.batch.tables import batch_calls, batches
from gateway.ledger.database import Database, as_utc, now

b = batches.c
c = batch_calls.c
TIMES = ("in_progress", "finalizing", "completed", "failed", "expired", "cancelling", "cancelled")
OPEN = ("in_progress", "cancelling")
INSERT_CHUNK = 1000
WINDOW = "24h"
MESSAGES = "/v1/messages"  # the endpoint of Anthropic Message Batches (no files)


def _seconds(moment: datetime | None) -> int | None:
    moment = as_utc(moment)
    return None if moment is None else int(moment.timestamp())


def new_batch(
    batch_id: str,
    identity: Any,
    endpoint: str,
    total: int,
    input_file_id: str = "",
    metadata: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The `batches` row of a batch just created (in progress, expiring in 24 h)."""
    created = now()
    return {
        "id": batch_id,
        "workload": identity.workload,
        "key_id": identity.key_id,
        "endpoint": endpoint,
        "input_file_id": input_file_id,
        "completion_window": WINDOW,
        "metadata": metadata,
        "status": "in_progress",
        "total": total,
        "created_at": created,
        "in_progress_at": created,
        "expires_at": created + timedelta(hours=24),
    }


def batch_object(row: Row[Any], counts: dict[str, int]) -> dict[str, Any]:
    """OpenAI's `batch` object."""
    fields = row._mapping
    batch: dict[str, Any] = {
        "id": row.id,
        "object": "batch",
        "endpoint": row.endpoint,
        "errors": None,
        "input_file_id": row.input_file_id,
        "completion_window": row.completion_window,
        "status": row.status,
        "output_file_id": row.output_file_id,
        "error_file_id": row.error_file_id,
        "created_at": _seconds(row.created_at),
        "expires_at": _seconds(row.expires_at),
    }
    for name in TIMES:
        batch[f"{name}_at"] = _seconds(fields.get(f"{name}_at"))
    batch["request_counts"] = request_counts(row.total, counts)
    batch["metadata"] = fields["metadata"]
    return batch


def request_counts(total: int, counts: dict[str, int]) -> dict[str, int]:
    """{total, completed, failed}: cancelled and expired calls count as failed."""
    done = counts.get(COMPLETED, 0)
    ended = sum(n for status, n in counts.items() if status not in WAITING)
    return {"total": total, "completed": done, "failed": ended - done}


class BatchStore:
    def __init__(self, database: Database) -> None:
        self.database = database
        self.engine = database.engine

    async def create(self, batch: dict[str, Any], calls: Sequence[dict[str, Any]]) -> None:
        """The batch and all its calls, in one transaction."""
        await self.database.ensure_ready()
        async with self.engine.begin() as conn:
            await conn.execute(batches.insert(), [batch])
            for start in range(0, len(calls), INSERT_CHUNK):
                await conn.execute(batch_calls.insert(), list(calls[start : start + INSERT_CHUNK]))

    async def get(self, batch_id: str) -> Row[Any] | None:
        async with self.engine.connect() as conn:
            return (await conn.execute(select(batches).where(b.id == batch_id))).first()

    async def newest(
        self, workload: str | None, limit: int, after: str | None, *, messages: bool = False
    ) -> list[Row[Any]]:
        """A page of OpenAI batches, or of Anthropic Message Batches (`messages`)."""
        kind = b.endpoint == MESSAGES if messages else b.endpoint != MESSAGES
        query = select(batches).where(kind).order_by(b.created_at.desc(), b.id.desc()).limit(limit)
        if workload is not None:
            query = query.where(b.workload == workload)
        if after:
            anchor = await self.get(after)
            if anchor is not None:
                query = query.where(
                    (b.created_at < anchor.created_at)
                    | ((b.created_at == anchor.created_at) & (b.id < anchor.id))
                )
        async with self.engine.connect() as conn:
            return list(await conn.execute(query))

    async def counts(self, batch_ids: Sequence[str]) -> dict[str, dict[str, int]]:
        """{batch id: {call status: count}}."""
        query = (
            select(c.batch_id, c.status, func.count())
            .where(c.batch_id.in_(list(batch_ids)))
            .group_by(c.batch_id, c.status)
        )
        found: dict[str, dict[str, int]] = {batch_id: {} for batch_id in batch_ids}
        async with self.engine.connect() as conn:
            for batch_id, status, count in await conn.execute(query):
                found[batch_id][status] = count
        return found

    async def open(self) -> list[Row[Any]]:
        """Batches still running or being cancelled."""
        async with self.engine.connect() as conn:
            return list(await conn.execute(select(batches).where(b.status.in_(OPEN))))

    async def delete(self, batch_id: str) -> None:
        """Forget an ended batch (its calls and their ledger rows stay)."""
        async with self.engine.begin() as conn:
            await conn.execute(batches.delete().where(b.id == batch_id))

    async def move(self, batch_id: str, expect: Sequence[str], **values: Any) -> bool:
        """Change a batch if its status is one of `expect` (compare-and-set)."""
        statement = update(batches).where(b.id == batch_id, b.status.in_(list(expect)))
        async with self.engine.begin() as conn:
            return (await conn.execute(statement.values(**values))).rowcount == 1
