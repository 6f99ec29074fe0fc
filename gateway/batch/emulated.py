"""The emulated lane: the worker runs queued calls itself, as ordinary non-streaming calls.

For servers without a Batch API (vLLM, TGI, llama.cpp, the simulator). At most
`batch_concurrency` calls per provider are in flight, and none starts while the provider has
`batch_yield_inflight` interactive calls running (counted by the proxy in this process). A
call is leased to its worker (renewed by the worker's heartbeat): if the worker dies, the call
goes back to the queue when the lease lapses and runs again; it is still billed once.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from sqlalchemy import Row

from gateway.batch.errors import OutcomeUnrecorded, database_outage, transient
from gateway.batch.outcome import Outcome
from gateway.batch.queue import Entry
from gateway.batch.store import RUNNING
from gateway.batch.upstream import prepare_call
from gateway.errors import GatewayError
from gateway.providers.base import Provider, UpstreamRequest
from gateway.providers.errors import upstream_failures

if TYPE_CHECKING:
    from gateway.batch.worker import BatchWorker

log = logging.getLogger("gateway.batch")

YIELD_PAUSE = 0.05
MAX_RETRY_PAUSE = 30.0
FINISH_PAUSES = (0.5, 1.0, 2.0, 4.0, 8.0)  # a finish lost to a database outage is tried again


class EmulatedLane:
    def __init__(self, worker: BatchWorker) -> None:
        self.worker = worker
        self._slots = {
            name: asyncio.Semaphore(provider.config.batch_concurrency)
            for name, provider in worker.providers.items()
        }
        self._tasks: set[asyncio.Task[None]] = set()
        self.running: set[str] = set()  # calls claimed here: the heartbeat renews their leases

    @property
    def busy(self) -> int:
        """Calls taken from the queue and not yet finished (running or waiting for a slot)."""
        return len(self._tasks)

    def start(self, entry: Entry, row: Row[Any]) -> None:
        task = asyncio.create_task(self._run(entry, row), name=f"batch-call-{row.id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _run(self, entry: Entry, row: Row[Any]) -> None:
        worker = self.worker
        provider = worker.providers[row.provider]
        try:
            async with self._slots[provider.name]:
                await yield_to_interactive(provider)
                claimed = await worker.store.claim_running(row.id, worker.owner, worker.lease)
                if claimed is not None:
                    self.running.add(claimed.id)
                    try:
                        await self._finish(claimed, await self._outcome(provider, claimed))
                    finally:
                        self.running.discard(claimed.id)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # its lease lapses and reconcile queues it again (a counted run)
            log.warning("batch: call %s failed to run (%s); it will be retried", row.id, exc)
        try:  # the database, not the queue, now knows what to run again
            await worker.queue.ack([entry])
        except Exception as exc:
            log.warning("batch: could not ack call %s in the queue (%s)", row.id, exc)

    async def _outcome(self, provider: Provider, row: Row[Any]) -> Outcome:
        """Run the call, unless it has run `batch_max_attempts` times already without an
        outcome that could be recorded (each claim counts one run)."""
        runs = row.attempts - 1
        if runs >= self.worker.settings.batch_max_attempts:
            error = OutcomeUnrecorded(
                f"the call ran {runs} times without its outcome being recorded; "
                "it is not run again"
            )
            return Outcome("errored", error=error)
        return await self._call(provider, row)

    async def _finish(self, row: Row[Any], outcome: Outcome) -> None:
        """Record the outcome, trying again while the database is out: the provider's answer
        is kept here, not asked for a second time."""
        worker = self.worker
        for pause in (*FINISH_PAUSES, None):
            try:
                await worker.finisher.finish(row, outcome, expect=RUNNING, owner=worker.owner)
                return
            except Exception as exc:
                if pause is None or not database_outage(exc):
                    raise
                log.warning(
                    "batch: could not record call %s (%s); trying again in %gs",
                    row.id,
                    type(exc).__name__,
                    pause,
                )
            await asyncio.sleep(pause)

    async def _call(self, provider: Provider, row: Row[Any]) -> Outcome:
        settings = self.worker.settings
        attempt = 0
        while True:
            attempt += 1
            try:
                prepared = prepare_call(settings, provider, row)
                status, payload = await self._send(provider, prepared.request)
                outcome = Outcome.from_status(provider, status, payload)
            except GatewayError as err:
                outcome = Outcome("errored", error=err)
            error = outcome.error
            if error is None or not transient(error) or attempt >= settings.batch_max_attempts:
                return outcome
            await asyncio.sleep(min(2.0 ** (attempt - 1), MAX_RETRY_PAUSE))

    async def _send(self, provider: Provider, request: UpstreamRequest) -> tuple[int, bytes]:
        with upstream_failures(provider):
            status, _, payload = await self.worker.pool.fetch(provider, request)
            return status, payload


async def yield_to_interactive(provider: Provider) -> None:
    """Return once the provider has fewer interactive calls in flight than its limit."""
    limit = provider.config.batch_yield_inflight
    # A plain counter the proxy bumps on the hot path (no event to wait on): poll it.
    while limit and provider.in_flight >= limit:  # noqa: ASYNC110
        await asyncio.sleep(YIELD_PAUSE)
