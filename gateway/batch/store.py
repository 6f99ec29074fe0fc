"""Deferred calls in the database: inserts, reads, and status changes by conditional UPDATE.

    queued ──> submitted (in a provider job) ──> completed | failed | cancelled | expired
       │ ^          │ expired item: back to queued (up to batch_max_attempts)
       v │          v
      running (emulated; leased) ──> completed | failed

Every change names the status it expects (`WHERE status = 'queued'`, ...): of two workers
racing for one call exactly one changes it; the other sees no row and leaves the call alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Row, case, func, select, update

from gateway.batch.clock import database_now
from gateway.batch.queue import Lane
from gateway.batch.tables import batch_calls
from gateway.ledger.database import Database, now

QUEUED, SUBMITTED, RUNNING = "queued", "submitted", "running"
COMPLETED, FAILED, CANCELLED, EXPIRED = "completed", "failed", "cancelled", "expired"
WAITING = (QUEUED, SUBMITTED, RUNNING)
TERMINAL = (COMPLETED, FAILED, CANCELLED, EXPIRED)

c = batch_calls.c


class CallStore:
    def __init__(self, database: Database) -> None:
        self.database = database
        self.engine = database.engine
        self.now = database_now(self.engine)  # leases and delivery times: the database's clock

    async def insert(self, rows: Sequence[dict[str, Any]]) -> None:
        await self.database.ensure_ready()
        async with self.engine.begin() as conn:
            await conn.execute(batch_calls.insert(), list(rows))

    async def get(self, call_id: str) -> Row[Any] | None:
        async with self.engine.connect() as conn:
            return (await conn.execute(select(batch_calls).where(c.id == call_id))).first()

    async def get_many(self, call_ids: Sequence[str]) -> dict[str, Row[Any]]:
        if not call_ids:
            return {}
        async with self.engine.connect() as conn:
            rows = await conn.execute(select(batch_calls).where(c.id.in_(list(call_ids))))
            return {row.id: row for row in rows}

    async def in_job(self, job_id: str) -> list[Row[Any]]:
        """The calls a provider job still carries (not yet finished)."""
        query = select(batch_calls).where(c.job_id == job_id, c.status == SUBMITTED)
        async with self.engine.connect() as conn:
            return list(await conn.execute(query))

    async def of_batch(self, batch_id: str, status: str | None = None) -> list[Row[Any]]:
        query = select(batch_calls).where(c.batch_id == batch_id)
        if status is not None:
            query = query.where(c.status == status)
        async with self.engine.connect() as conn:
            return list(await conn.execute(query.order_by(c.id)))

    async def queued(self, limit: int = 10_000) -> list[Row[Any]]:
        query = select(c.id, c.provider, c.model).where(c.status == QUEUED).limit(limit)
        async with self.engine.connect() as conn:
            return list(await conn.execute(query.order_by(c.id)))

    async def waiting_by_lane(self) -> dict[Lane, int]:
        query = (
            select(c.provider, c.model, func.count())
            .where(c.status.in_(WAITING))
            .group_by(c.provider, c.model)
        )
        async with self.engine.connect() as conn:
            return {(p, m): n for p, m, n in await conn.execute(query)}

    # --- emulated lane: leases ------------------------------------------------------------

    async def claim_running(self, call_id: str, owner: str, lease: float) -> Row[Any] | None:
        """queued -> running, held by `owner` until the lease ends; None if not queued."""
        statement = (
            update(batch_calls)
            .where(c.id == call_id, c.status == QUEUED)
            .values(
                status=RUNNING,
                owner=owner,
                lease_until=self.now + lease,
                attempts=c.attempts + 1,
                updated_at=now(),
            )
            .returning(*batch_calls.c)
        )
        async with self.engine.begin() as conn:
            return (await conn.execute(statement)).first()

    async def release(self, owner: str) -> list[Row[Any]]:
        """A worker stopping: its running calls -> queued, for another worker (or itself)."""
        statement = (
            update(batch_calls)
            .where(c.owner == owner, c.status == RUNNING)
            .values(status=QUEUED, owner=None, lease_until=None, updated_at=now())
            .returning(c.id, c.provider, c.model)
        )
        async with self.engine.begin() as conn:
            return list(await conn.execute(statement))

    async def extend_leases(self, owner: str, lease: float, call_ids: Sequence[str]) -> None:
        """Renew the leases of the calls `owner` is running now (not of any it gave up on)."""
        statement = (
            update(batch_calls)
            .where(c.id.in_(list(call_ids)), c.owner == owner, c.status == RUNNING)
            .values(lease_until=self.now + lease)
        )
        async with self.engine.begin() as conn:
            await conn.execute(statement)

    async def release_expired(self) -> list[Row[Any]]:
        """Running calls whose worker stopped renewing its lease (it died) -> queued."""
        statement = (
            update(batch_calls)
            .where(c.status == RUNNING, c.lease_until < self.now)
            .values(status=QUEUED, owner=None, lease_until=None, updated_at=now())
            .returning(c.id, c.provider, c.model)
        )
        async with self.engine.begin() as conn:
            return list(await conn.execute(statement))

    # --- native lane: provider jobs -------------------------------------------------------

    async def requeue(
        self, call_ids: Sequence[str], job_id: str, *, count_attempt: bool = False
    ) -> list[Row[Any]]:
        """Calls a job gave back (not run: expired, or the job never got submitted) -> queued;
        `count_attempt` when the provider had them (an expired window counts as a run)."""
        statement = (
            update(batch_calls)
            .where(c.id.in_(list(call_ids)), c.job_id == job_id, c.status == SUBMITTED)
            .values(
                status=QUEUED,
                job_id=None,
                submitted_at=None,
                updated_at=now(),
                attempts=c.attempts + (1 if count_attempt else 0),
            )
            .returning(c.id, c.provider, c.model)
        )
        async with self.engine.begin() as conn:
            return list(await conn.execute(statement))

    # --- finishing --------------------------------------------------------------------------

    async def finish(
        self,
        call_id: str,
        values: dict[str, Any],
        ledger_row: dict[str, Any],
        *,
        expect: str,
        job_id: str | None = None,
        owner: str | None = None,
    ) -> bool:
        """Set the final status and insert the ledger row, in one transaction; False (and
        nothing written) if the call is no longer `expect` (another worker finished it)."""
        conditions = [c.id == call_id, c.status == expect]
        if job_id is not None:
            conditions.append(c.job_id == job_id)
        if owner is not None:
            conditions.append(c.owner == owner)
        statement = (
            update(batch_calls)
            .where(*conditions)
            .values(
                **values,
                owner=None,
                lease_until=None,
                finished_at=now(),
                updated_at=now(),
                delivery=case((c.callback_url.is_not(None), "pending"), else_=None),
                next_delivery_at=case((c.callback_url.is_not(None), self.now), else_=None),
            )
        )
        async with self.engine.begin() as conn:
            changed = (await conn.execute(statement)).rowcount
            if changed != 1:
                return False
            await conn.execute(self.database.insert_calls(), [ledger_row])
        return True

    # --- callbacks --------------------------------------------------------------------------

    async def due_deliveries(self, limit: int = 20) -> list[Row[Any]]:
        query = (
            select(batch_calls)
            .where(c.delivery == "pending", c.next_delivery_at <= self.now)
            .order_by(c.next_delivery_at)
            .limit(limit)
        )
        async with self.engine.connect() as conn:
            return list(await conn.execute(query))

    async def claim_delivery(self, call_id: str, seen: float, hold: float) -> bool:
        """Take one due delivery (compare-and-set on its time), held for `hold` seconds."""
        statement = (
            update(batch_calls)
            .where(c.id == call_id, c.delivery == "pending", c.next_delivery_at == seen)
            .values(next_delivery_at=self.now + hold)
        )
        async with self.engine.begin() as conn:
            return (await conn.execute(statement)).rowcount == 1

    async def record_delivery(
        self, call_id: str, state: str, attempts: int, retry_in: float | None, error: str | None
    ) -> None:
        """A delivery's outcome; `retry_in` seconds from now for another try (None: no more)."""
        statement = (
            update(batch_calls)
            .where(c.id == call_id)
            .values(
                delivery=state,
                delivery_attempts=attempts,
                next_delivery_at=None if retry_in is None else self.now + retry_in,
                delivery_error=error,
            )
        )
        async with self.engine.begin() as conn:
            await conn.execute(statement)
