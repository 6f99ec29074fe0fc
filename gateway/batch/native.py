"""The native lane: calls packed into provider Batch API jobs, polled, and mapped back.

A job is opened in the database with the calls it takes (queued -> submitted) before the
provider hears of it; its provider id is stored once the provider accepted it; only then are
the queue entries acked. Results are matched by `custom_id` (the call id) and each call is
finished on its own conditional UPDATE, so a job polled by two workers bills every call once.
Items the provider did not run because its window expired go back to the queue (up to
`batch_max_attempts` runs), then end `expired`; items of a cancelled job end `cancelled`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from sqlalchemy import Row

from gateway.batch.errors import transient
from gateway.batch.outcome import Outcome
from gateway.batch.packer import Held, Packer
from gateway.batch.queue import Entry, Lane
from gateway.batch.store import SUBMITTED
from gateway.batch.upstream import prepare_call, upstream_route
from gateway.errors import GatewayError, UpstreamError
from gateway.ids import new_call_id
from gateway.ledger.database import as_utc
from gateway.providers.base import Provider, UpstreamRequest
from gateway.providers.batch import BatchPoll, ItemResult

if TYPE_CHECKING:
    from gateway.batch.worker import BatchWorker

log = logging.getLogger("gateway.batch")

SUBMIT_RETRY = 5.0  # seconds before a lane tries again after the provider failed a submission
LEFT_OVER = {"expired": "expired", "cancelled": "cancelled"}


class NativeLane:
    def __init__(self, worker: BatchWorker) -> None:
        self.worker = worker
        self.packer = Packer(self._limits)

    def _limits(self, lane: Lane) -> tuple[int, float]:
        config = self.worker.providers[lane[0]].config
        return config.batch_max_items, config.batch_max_wait

    def hold(self, entry: Entry, row: Row[Any]) -> bool:
        """Keep a queued call for the next job; False if it is held already."""
        provider = self.worker.providers[row.provider]
        queued_at = (as_utc(row.updated_at) or row.updated_at).timestamp()
        held = Held(entry, upstream_route(provider, row.shape, row.route), queued_at)
        return self.packer.add(held)

    async def flush(self) -> None:
        """Submit every job that is due."""
        for job in self.packer.due(time.time()):
            await self._submit(job)

    async def _submit(self, held: list[Held]) -> None:
        worker = self.worker
        lane = held[0].entry.lane
        provider = worker.providers[lane[0]]
        entries = [h.entry for h in held]
        job_id = new_call_id()
        rows = await worker.jobs.open(
            job_id, lane, [h.call_id for h in held], worker.owner, worker.lease
        )
        if rows:
            try:
                await self._send(provider, job_id, rows)
            except GatewayError as err:
                if not transient(err):
                    await self._reject(job_id, rows, err)
                else:
                    log.warning(
                        "batch: provider %s did not take a job (%s); retrying in %.0fs",
                        provider.name,
                        err.message,
                        SUBMIT_RETRY,
                    )
                    await worker.store.requeue([row.id for row in rows], job_id)
                    await worker.jobs.discard(job_id)
                    self.packer.put_back(held, time.time() + SUBMIT_RETRY)
                    return
        await worker.queue.ack(entries)

    async def _send(self, provider: Provider, job_id: str, rows: list[Row[Any]]) -> None:
        worker = self.worker
        requests: list[tuple[str, UpstreamRequest]] = []
        for row in rows:
            try:
                prepared = prepare_call(worker.settings, provider, row)
            except GatewayError as err:
                await self._finish(row, Outcome("errored", error=err), job_id)
                continue
            requests.append((row.id, prepared.request))
        if not requests:
            await worker.jobs.end(job_id, "failed", None, "no call of the job could be built")
            return
        session = worker.pool.session(provider)
        provider_job_id = await provider.submit_batch(session, requests, tag=job_id)
        if not await worker.jobs.submitted(
            job_id, provider_job_id, worker.settings.batch_poll_interval
        ):
            log.warning(
                "batch: job %s was taken over while submitting; %s job %s is not ours",
                job_id,
                provider.name,
                provider_job_id,
            )
            return
        log.info(
            "batch: job %s (%d calls) submitted to %s as %s",
            job_id,
            len(requests),
            provider.name,
            provider_job_id,
        )

    async def _reject(self, job_id: str, rows: list[Row[Any]], err: GatewayError) -> None:
        for row in rows:
            await self._finish(row, Outcome("errored", error=err), job_id)
        await self.worker.jobs.end(job_id, "failed", None, err.message)

    # --- polling ----------------------------------------------------------------------------

    async def poll(self) -> None:
        """Poll every job that is due (each by one worker at a time), applying ended ones."""
        worker = self.worker
        settings = worker.settings
        for job in await worker.jobs.due():
            pause = min(
                settings.batch_poll_interval * 2.0 ** (job.polls + 1), settings.batch_poll_max
            )
            if not await worker.jobs.claim_poll(job.id, job.next_poll_at, pause):
                continue
            provider = worker.providers.get(job.provider)
            if provider is None:
                continue
            try:
                result = await provider.poll_batch(
                    worker.pool.session(provider), job.provider_job_id
                )
            except GatewayError as err:
                log.warning(
                    "batch: could not poll job %s at %s: %s", job.id, provider.name, err.message
                )
                continue
            if not result.ended:
                if result.status != job.provider_status:
                    await worker.jobs.note(job.id, result.status)
                continue
            await self._apply(job, provider, result)

    async def _apply(self, job: Row[Any], provider: Provider, result: BatchPoll) -> None:
        """Finish each call of an ended job on its own. A call whose outcome could not be
        recorded (the database was out) keeps the job open: the next poll reads the provider's
        results again and retries it, without running anything again."""
        waiting = {row.id: row for row in await self.worker.store.in_job(job.id)}
        expired: list[Row[Any]] = []
        unrecorded = 0
        for item in result.items:
            row = waiting.pop(item.custom_id, None)
            if row is None:
                continue  # finished already (by another poller, or a poll before) or not ours
            if item.kind == "expired":
                expired.append(row)
            elif not await self._settle(row, _outcome(provider, item), job.id):
                unrecorded += 1
        for row in waiting.values():  # calls the provider's results left out
            kind = LEFT_OVER.get(result.outcome or "")
            if kind == "expired":
                expired.append(row)
                continue
            if kind == "cancelled":
                outcome = Outcome("cancelled")
            else:
                reason = result.error or "the provider's job reported no result for this call"
                outcome = Outcome("errored", error=UpstreamError(reason))
            if not await self._settle(row, outcome, job.id):
                unrecorded += 1
        await self._retry_or_expire(expired, job.id)
        if unrecorded:
            log.warning(
                "batch: job %s: %d calls not recorded yet; the next poll tries them again",
                job.id,
                unrecorded,
            )
            return
        await self.worker.jobs.end(job.id, "ended", result.status, result.error)
        log.info("batch: job %s ended at %s (%s)", job.id, provider.name, result.status)

    async def _settle(self, row: Row[Any], outcome: Outcome, job_id: str) -> bool:
        """`_finish` one call of a job, isolated from the others; False if it must wait."""
        try:
            await self._finish(row, outcome, job_id)
        except Exception as exc:
            log.warning("batch: could not record call %s of job %s (%s)", row.id, job_id, exc)
            return False
        return True

    async def _retry_or_expire(self, rows: Iterable[Row[Any]], job_id: str) -> None:
        worker = self.worker
        again = []
        for row in rows:
            if row.attempts + 1 >= worker.settings.batch_max_attempts:
                await self._finish(row, Outcome("expired"), job_id)
            else:
                again.append(row.id)
        if again:
            await worker.requeue(await worker.store.requeue(again, job_id, count_attempt=True))

    async def _finish(self, row: Row[Any], outcome: Outcome, job_id: str) -> None:
        await self.worker.finisher.finish(row, outcome, expect=SUBMITTED, job_id=job_id)

    # --- recovery ---------------------------------------------------------------------------

    async def recover(self) -> None:
        """Jobs whose worker died while submitting: found at the provider, or re-queued."""
        worker = self.worker
        for job in await worker.jobs.abandoned():
            if not await worker.jobs.take_over(job.id, job.lease_until, worker.owner, worker.lease):
                continue
            provider = worker.providers.get(job.provider)
            found = None
            if provider is not None:
                try:
                    found = await provider.find_batch(worker.pool.session(provider), job.id)
                except GatewayError as err:
                    log.warning("batch: could not look up job %s: %s", job.id, err.message)
                    continue  # the lease lapses again; the next look-up retries
            if found is not None:
                await worker.jobs.submitted(job.id, found, worker.settings.batch_poll_interval)
                continue
            rows = await worker.store.in_job(job.id)
            await worker.requeue(await worker.store.requeue([r.id for r in rows], job.id))
            await worker.jobs.discard(job.id)


def _outcome(provider: Provider, item: ItemResult) -> Outcome:
    if item.kind in ("succeeded", "errored"):
        return Outcome.from_status(provider, item.status, item.body)
    return Outcome(item.kind)
