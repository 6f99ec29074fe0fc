"""Background responses (`background: true`): run inside the gateway, not by the connection.

Each runs as a task owned by this process: the upstream is streamed (so progress and a cancel
keep what was delivered), the stored Response object is refreshed while it runs, and its
lease (`batch_lease`) is renewed. `cancel` cancels the task, which closes the upstream at
once; the ledger row is `cancelled` with reason `explicit` and what was delivered and billed.
A cancel that reaches another replica is flagged in the database and picked up by the owner
within a second. A response whose process died stops being renewed and is shown failed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from dataclasses import dataclass
from typing import Any

from starlette.types import Message

from gateway.auth import Identity
from gateway.responses.service import (
    ResponsesService,
    Run,
    refuse_non_background,
    store_errors,
)
from gateway.responses.store import RUNNING
from gateway.translate.responses_response import TERMINAL, echo_of, response_object

log = logging.getLogger("gateway.responses")

CANCEL_WAIT = 5.0  # how long a cancel on another replica is awaited
ABANDONED = {"code": "server_error",
             "message": "the gateway process running this response stopped before it finished"}


@dataclass(slots=True)
class Job:
    run: Run
    base: dict[str, Any]
    task: asyncio.Task[None] | None = None
    started: bool = False
    finished: bool = False


class BackgroundRunner:
    def __init__(self, service: ResponsesService, lease: float) -> None:
        self.service = service
        self.lease = lease
        self.interval = min(1.0, lease / 3)
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{os.urandom(3).hex()}"
        self.jobs: dict[str, Job] = {}
        self._keeper: asyncio.Task[None] | None = None

    async def start(self, run: Run) -> dict[str, Any]:
        """Store the response as in progress, start it, and return its object."""
        call = run.call
        response_id = f"resp_{call.id}"
        base = response_object(
            response_id, call.model.name, int(time.time()), "in_progress", echo_of(run.body)
        )
        base["background"] = True
        with store_errors():
            await self.service.storage().save(self._row(run, base))
        job = Job(run, base)
        self.jobs[response_id] = job
        job.task = asyncio.create_task(self._run(response_id, job), name=response_id)
        if self._keeper is None:
            self._keeper = asyncio.create_task(self._keep(), name="responses-keeper")
        return base

    async def retrieve(self, identity: Identity, response_id: str) -> dict[str, Any]:
        row = await self.service.row(identity, response_id)
        if row.status in RUNNING and row.id not in self.jobs and _lapsed(row):
            with store_errors():
                await self._fail_abandoned(row)
            row = await self.service.row(identity, response_id)
        return dict(row.response)

    async def cancel(self, identity: Identity, response_id: str) -> dict[str, Any]:
        row = await self.service.row(identity, response_id)
        refuse_non_background(row)
        job = self.jobs.get(response_id)
        if job is not None:
            await self._stop(job, "explicit")
        elif row.status in RUNNING:
            with store_errors():
                await self.service.storage().request_cancel(response_id)
            deadline = time.monotonic() + CANCEL_WAIT
            while time.monotonic() < deadline and row.status in RUNNING and not _lapsed(row):
                await asyncio.sleep(0.1)
                row = await self.service.row(identity, response_id)
        return await self.retrieve(identity, response_id)

    async def close(self) -> None:
        """Shutdown: what still runs is cut short and recorded (failed, reason shutdown)."""
        if self._keeper is not None:
            self._keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._keeper
        for job in list(self.jobs.values()):
            await self._stop(job, "shutdown")

    # --- running -------------------------------------------------------------------------

    async def _run(self, response_id: str, job: Job) -> None:
        job.started = True
        run = job.run
        try:
            await self.service.state.proxy.handle(_never, _discard, run.call, run.plan, run.shape)
        finally:
            await self._finish(response_id, job)

    async def _stop(self, job: Job, reason: str) -> None:
        job.run.call.cancel_reason = reason
        if job.task is not None:
            job.task.cancel()
            await asyncio.gather(job.task, return_exceptions=True)
        if not job.started:  # cancelled before it ran: the proxy never saw it
            job.run.call.cancel(reason, None)
            self.service.state.finish_call(job.run.call)
            await self._finish(job.base["id"], job)

    async def _finish(self, response_id: str, job: Job) -> None:
        if job.finished:
            return
        job.finished = True
        self.jobs.pop(response_id, None)
        await self.service.save(job.run, self._final(job))

    def _final(self, job: Job) -> dict[str, Any]:
        call = job.run.call
        response = {**(job.run.reply.result() or job.base), "id": job.base["id"],
                    "background": True}
        if call.status == "cancelled" and call.cancel_reason == "explicit":
            response["status"] = "cancelled"
        elif call.status == "cancelled":
            response.update(status="failed", error={
                "code": "server_error", "message": "the gateway shut down before it finished"})
        elif call.status == "failed" and response.get("status") not in TERMINAL:
            response.update(status="failed", error={
                "code": "server_error", "message": call.error or "the call failed"})
        return response

    async def _keep(self) -> None:
        """Renew leases, publish progress, and pick up cancels asked of other replicas."""
        store = self.service.storage()
        while True:
            await asyncio.sleep(self.interval)
            if not self.jobs:
                continue
            try:
                asked = await store.renew(self.jobs, self.owner, time.time() + self.lease)
                for response_id, job in list(self.jobs.items()):
                    if response_id in asked:
                        asyncio.create_task(self._stop(job, "explicit"))
                    elif (snapshot := job.run.reply.result()) is not None:
                        progress = {**snapshot, "id": response_id, "background": True}
                        progress["status"] = "in_progress"
                        await store.progress(response_id, progress)
            except Exception as exc:  # the database is down: try again next round
                log.warning("responses: could not renew background leases: %s", exc)

    async def _fail_abandoned(self, row: Any) -> None:
        response = {**row.response, "status": "failed", "error": ABANDONED}
        await self.service.storage().mark_failed(row, response)

    def _row(self, run: Run, response: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": response["id"],
            "call_id": run.call.id,
            "workload": run.call.identity.workload,
            "model": run.call.model.name,
            "status": response["status"],
            "background": True,
            "previous_response_id": run.body.get("previous_response_id"),
            "input": run.items,
            "response": response,
            "owner": self.owner,
            "lease_until": time.time() + self.lease,
            "cancel_requested": False,
        }


def _lapsed(row: Any) -> bool:
    return row.lease_until is not None and row.lease_until < time.time()


async def _never() -> Message:
    """A background call has no client to leave: its `receive` never reports a disconnect."""
    await asyncio.Event().wait()
    raise AssertionError("unreachable")


async def _discard(message: Message) -> None:
    return None
