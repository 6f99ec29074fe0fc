"""The batch worker: the loops that move deferred calls from the queue to their outcome.

    consume    read queue entries; native calls wait in the packer, emulated ones run
    pack       submit the provider jobs that are due                        (every 0.1 s)
    poll       poll provider jobs, apply ended ones; recover abandoned ones (every 0.2 s)
    heartbeat  renew the leases of running calls, touch the entries held    (lease / 3)
    reclaim    take over queue entries a dead worker held                   (lease / 2)
    reconcile  re-queue calls whose lease lapsed or that the queue lost     (reconcile interval)
    deliver    POST due callbacks                                           (every 0.5 s)
    batches    cancel, expire and gather Batch API batches                  (every 0.5 s)

It runs inside `gateway serve` (unless `--no-worker`) or alone (`gateway worker`); any number
of workers can share one database (and Redis): every change is a conditional UPDATE.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any

import httpx
from sqlalchemy import Row

from gateway.batch.allowlist import Allowlist
from gateway.batch.emulated import EmulatedLane
from gateway.batch.gathering import Gatherer
from gateway.batch.jobs import JobStore
from gateway.batch.native import NativeLane
from gateway.batch.outcome import Finisher
from gateway.batch.queue import Entry, Lane, MemoryQueue, Queue
from gateway.batch.records import describe, lane_of
from gateway.batch.store import QUEUED, CallStore
from gateway.batch.webhooks import Deliverer
from gateway.budgets.limiter import Limiter
from gateway.config import Settings
from gateway.ledger.database import Database
from gateway.ledger.queries import LedgerQueries
from gateway.ledger.service import database_tag
from gateway.providers.base import Provider
from gateway.upstream import UpstreamPool

log = logging.getLogger("gateway.batch")

READ_COUNT = 200
MAX_BACKOFF = 5.0  # the longest pause of a loop that keeps failing
RELEASE_TIMEOUT = 2.0  # at shutdown; a database that does not answer leaves it to the lease
MAX_RUNNING = 512  # emulated calls taken from the queue at once (the rest wait in the queue)


def build_queue(settings: Settings, consumer: str) -> Queue:
    """Redis Streams when `redis_url` is set, else the in-process queue."""
    if settings.redis_url:
        from gateway.batch.redis_queue import RedisQueue  # redis-py only when Redis is used

        prefix = f"gateway:batch:{database_tag(settings.database_url)}:"
        return RedisQueue.from_url(settings.redis_url, consumer, prefix)
    return MemoryQueue()


def worker_name() -> str:
    """This process's name as a queue consumer and lease owner."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


class BatchWorker:
    def __init__(
        self,
        settings: Settings,
        database: Database,
        queue: Queue,
        pool: UpstreamPool,
        providers: dict[str, Provider],
        owner: str | None = None,
        limits: Limiter | None = None,
    ) -> None:
        self.settings = settings
        self.database = database
        self.queue = queue
        self.pool = pool
        self.providers = providers
        self.owner = owner or worker_name()
        self.lease = settings.batch_lease
        self.store = CallStore(database)
        self.jobs = JobStore(database)
        self.records = LedgerQueries(database)
        settle = None if limits is None else limits.settle_deferred
        self.finisher = Finisher(settings, self.store, providers, settle)
        self.native = NativeLane(self)
        self.emulated = EmulatedLane(self)
        self.http = httpx.AsyncClient(follow_redirects=False)
        secret = settings.callback_secret.get_secret_value() if settings.callback_secret else None
        allowlist = Allowlist(settings.callback_allowed_hosts, settings.callback_allow_private)
        self.deliverer = Deliverer(
            secret, settings.callback_max_attempts, self.store, self.describe, self.http, allowlist
        )
        self.gatherer = Gatherer(database, self.store, self.finisher)
        self._tasks: list[asyncio.Task[None]] = []
        self._failing: dict[str, str] = {}

    @property
    def lanes(self) -> list[Lane]:
        return [(m.provider, m.name) for m in self.settings.models]

    async def start(self) -> None:
        with contextlib.suppress(Exception):  # Redis down: the loops retry
            await self.queue.start(self.lanes)
        lease = self.lease
        # The database-backed loops run about once a second: each pass is a query or two on
        # the API's event loop, and provider jobs are polled far less often than that anyway.
        loops: list[tuple[str, float, Callable[[], Awaitable[None]]]] = [
            ("pack", 0.1, self.native.flush),  # in memory
            ("poll", 1.0, self._poll),
            ("heartbeat", lease / 3, self._heartbeat),
            ("reclaim", lease / 2, self._reclaim),
            ("reconcile", self.settings.batch_reconcile_interval, self.reconcile),
            ("deliver", 1.0, self.deliverer.run),
            ("batches", 1.0, self.gatherer.run),
        ]
        self._tasks = [asyncio.create_task(self._consume(), name="batch-consume")]
        self._tasks += [
            asyncio.create_task(self._every(name, interval, step), name=f"batch-{name}")
            for name, interval, step in loops
        ]
        log.info("batch worker %s started (%d lanes)", self.owner, len(self.lanes))

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        running = self.emulated.busy
        await self.emulated.close()
        if running:  # hand the interrupted calls back now rather than after their lease
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._release(), RELEASE_TIMEOUT)
        await self.http.aclose()

    async def _release(self) -> None:
        await self.requeue(await self.store.release(self.owner))

    async def describe(self, call_id: str) -> dict[str, Any] | None:
        row = await self.store.get(call_id)
        return None if row is None else describe(row, await self.records.get(call_id))

    async def requeue(self, rows: Iterable[Any]) -> None:
        """Push calls (rows with id, provider, model) to their lanes' queues."""
        by_lane: dict[Lane, list[str]] = {}
        for row in rows:
            by_lane.setdefault(lane_of(row), []).append(
                row["id"] if isinstance(row, dict) else row.id
            )
        for lane, call_ids in by_lane.items():
            await self.queue.push(lane, call_ids)

    async def reconcile(self) -> None:
        """The database is the truth: what it says is queued, the queue must hold."""
        await self.database.ensure_ready()
        await self.requeue(await self.store.release_expired())
        queued = await self.store.queued()
        missing = set(await self.queue.missing([row.id for row in queued]))
        if missing:
            await self.requeue(row for row in queued if row.id in missing)
            log.info("batch: re-queued %d calls the queue did not hold", len(missing))

    async def _consume(self) -> None:
        while True:
            if self.emulated.busy >= MAX_RUNNING:
                await asyncio.sleep(0.05)
                continue
            try:
                entries = await self.queue.read(READ_COUNT, 1.0)
                if entries:
                    await self._dispatch(entries)
                self._recovered("consume")
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._failed("consume", exc)
                await asyncio.sleep(1.0)

    async def _dispatch(self, entries: Sequence[Entry]) -> None:
        rows = await self.store.get_many([entry.call_id for entry in entries])
        done: list[Entry] = []
        duplicates: list[Entry] = []
        for entry in entries:
            row: Row[Any] | None = rows.get(entry.call_id)
            if row is None or row.status != QUEUED or row.provider not in self.providers:
                done.append(entry)  # finished, taken by another worker, or not runnable here
            elif row.lane == "native":
                if not self.native.hold(entry, row):
                    duplicates.append(entry)
            else:
                self.emulated.start(entry, row)
        await self.queue.ack(done)
        await self.queue.ack(duplicates, forget=False)

    async def _poll(self) -> None:
        await self.native.poll()
        await self.native.recover()

    async def _heartbeat(self) -> None:
        running = list(self.emulated.running)
        if running:
            await self.store.extend_leases(self.owner, self.lease, running)
        await self.jobs.extend_leases(self.owner, self.lease)
        held = self.native.packer.entries()
        if held:
            await self.queue.touch(held)

    async def _reclaim(self) -> None:
        entries = await self.queue.reclaim(self.lease)
        if entries:
            log.info("batch: took over %d queue entries from a stopped worker", len(entries))
            await self._dispatch(entries)

    async def _every(self, name: str, interval: float, step: Callable[[], Awaitable[None]]) -> None:
        pause = interval
        while True:
            started = time.monotonic()
            try:
                await step()
                self._recovered(name)
                pause = interval
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the database or Redis is down: back off, never give up
                self._failed(name, exc)
                pause = min(max(pause * 2, 0.5), MAX_BACKOFF)
            await asyncio.sleep(max(0.0, pause - (time.monotonic() - started)))

    def _failed(self, name: str, exc: Exception) -> None:
        """Log a failing loop once per distinct error, not on every turn."""
        text = f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
        if self._failing.get(name) != text:
            self._failing[name] = text
            log.warning(
                "batch worker: %s failed (%s); retrying",
                name,
                text,
                exc_info=log.isEnabledFor(logging.DEBUG),
            )

    def _recovered(self, name: str) -> None:
        if self._failing.pop(name, None) is not None:
            log.info("batch worker: %s works again", name)
