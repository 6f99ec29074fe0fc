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

from gateway.batch.errors import transient
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


class EmulatedLane:
    def __init__(self, worker: BatchWorker) -> None:
        self.worker = worker
        self._slots = {
            name: asyncio.Semaphore(provider.config.batch_concurrency)
            for name, provider in worker.providers.items()
        }
        self._tasks: set[asyncio.Task[None]] = set()

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
                    outcome = await self._call(provider, claimed)
                    await worker.finisher.finish(
                        claimed, outcome, expect=RUNNING, owner=worker.owner
                    )
            await worker.queue.ack([entry])
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the lease brings the call back; log and carry on
            log.warning("batch: call %s failed to run (%s); it will be retried", row.id, exc)

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
