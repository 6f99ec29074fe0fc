"""Provider jobs in the database: opened with their calls, submitted, polled, ended.

A job is `submitting` while its worker talks to the provider (leased: if that worker dies,
another takes the job over after the lease), `submitted` once the provider's job id is stored,
then polled by whichever worker wins the poll slot (compare-and-set on `next_poll_at`), and
`ended` (or `failed`) once its results are applied.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Row, delete, select, update

from gateway.batch.clock import database_now
from gateway.batch.queue import Lane
from gateway.batch.store import QUEUED, SUBMITTED
from gateway.batch.tables import batch_calls, batch_jobs
from gateway.ledger.database import Database, now

j = batch_jobs.c
c = batch_calls.c


class JobStore:
    def __init__(self, database: Database) -> None:
        self.engine = database.engine
        self.now = database_now(self.engine)  # leases and poll slots: the database's clock

    async def open(
        self, job_id: str, lane: Lane, call_ids: Sequence[str], owner: str, lease: float
    ) -> list[Row[Any]]:
        """A new `submitting` job holding those of `call_ids` still queued (their rows)."""
        async with self.engine.begin() as conn:
            await conn.execute(
                batch_jobs.insert().values(
                    id=job_id,
                    provider=lane[0],
                    model=lane[1],
                    status="submitting",
                    items=[],
                    owner=owner,
                    lease_until=self.now + lease,
                    polls=0,
                    created_at=now(),
                )
            )
            claimed = list(
                await conn.execute(
                    update(batch_calls)
                    .where(c.id.in_(list(call_ids)), c.status == QUEUED)
                    .values(status=SUBMITTED, job_id=job_id, submitted_at=now(), updated_at=now())
                    .returning(*batch_calls.c)
                )
            )
            if not claimed:
                await conn.execute(delete(batch_jobs).where(j.id == job_id))
                return []
            items = sorted(row.id for row in claimed)
            await conn.execute(update(batch_jobs).where(j.id == job_id).values(items=items))
        return sorted(claimed, key=lambda row: row.id)

    async def submitted(self, job_id: str, provider_job_id: str, first_poll: float) -> bool:
        """Store the provider's id; False if the job is no longer being submitted (another
        worker took it over after this one's lease lapsed)."""
        statement = (
            update(batch_jobs)
            .where(j.id == job_id, j.status == "submitting")
            .values(
                status="submitted",
                provider_job_id=provider_job_id,
                submitted_at=now(),
                next_poll_at=self.now + first_poll,
                owner=None,
                lease_until=None,
            )
        )
        async with self.engine.begin() as conn:
            return (await conn.execute(statement)).rowcount == 1

    async def discard(self, job_id: str) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(delete(batch_jobs).where(j.id == job_id))

    async def end(
        self, job_id: str, status: str, provider_status: str | None, error: str | None = None
    ) -> None:
        statement = (
            update(batch_jobs)
            .where(j.id == job_id)
            .values(
                status=status,
                provider_status=provider_status,
                error=error,
                finished_at=now(),
                next_poll_at=None,
                owner=None,
                lease_until=None,
            )
        )
        async with self.engine.begin() as conn:
            await conn.execute(statement)

    async def due(self, limit: int = 20) -> list[Row[Any]]:
        query = (
            select(batch_jobs)
            .where(j.status == "submitted", j.next_poll_at <= self.now)
            .order_by(j.next_poll_at)
            .limit(limit)
        )
        async with self.engine.connect() as conn:
            return list(await conn.execute(query))

    async def claim_poll(self, job_id: str, seen: float, pause: float) -> bool:
        """Take this poll (compare-and-set): two workers never poll one job at once; the next
        is due `pause` seconds from now."""
        statement = (
            update(batch_jobs)
            .where(j.id == job_id, j.status == "submitted", j.next_poll_at == seen)
            .values(next_poll_at=self.now + pause, polls=j.polls + 1, polled_at=now())
        )
        async with self.engine.begin() as conn:
            return (await conn.execute(statement)).rowcount == 1

    async def note(self, job_id: str, provider_status: str) -> None:
        statement = update(batch_jobs).where(j.id == job_id).values(provider_status=provider_status)
        async with self.engine.begin() as conn:
            await conn.execute(statement)

    async def extend_leases(self, owner: str, lease: float) -> None:
        """A live worker still submitting its jobs (a large upload can outlast one lease)."""
        statement = (
            update(batch_jobs)
            .where(j.owner == owner, j.status == "submitting")
            .values(lease_until=self.now + lease)
        )
        async with self.engine.begin() as conn:
            await conn.execute(statement)

    async def abandoned(self) -> list[Row[Any]]:
        """Jobs whose submitting worker let the lease lapse (it died mid-submission)."""
        query = select(batch_jobs).where(j.status == "submitting", j.lease_until < self.now)
        async with self.engine.connect() as conn:
            return list(await conn.execute(query))

    async def take_over(self, job_id: str, seen: float, owner: str, lease: float) -> bool:
        statement = (
            update(batch_jobs)
            .where(j.id == job_id, j.status == "submitting", j.lease_until == seen)
            .values(owner=owner, lease_until=self.now + lease)
        )
        async with self.engine.begin() as conn:
            return (await conn.execute(statement)).rowcount == 1
