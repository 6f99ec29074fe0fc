"""Closing Batch API batches (worker side): cancel or expire their waiting calls, and once
every call has ended, write the output and error files in OpenAI's format and end the batch.
An Anthropic Message Batch has no files: it just ends (its results are read from its calls).

Output lines hold the calls that completed; the error file holds the calls that got an error
answer (`response` with its status and error body, `error: null`) and those that never ran
(`response: null`, `error: {code: batch_cancelled | batch_expired, message}`). File ids derive
from the batch id and are written once, so two workers closing one batch agree.
"""

from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy import select

from gateway.batch.batches import MESSAGES, BatchStore
from gateway.batch.files import FileStore
from gateway.batch.outcome import Finisher, Outcome
from gateway.batch.store import CANCELLED, COMPLETED, EXPIRED, QUEUED, WAITING, CallStore
from gateway.batch.tables import batch_calls
from gateway.ledger.database import Database, as_utc, now
from gateway.ledger.models import calls

NOT_RUN = {
    CANCELLED: ("batch_cancelled", "The batch was cancelled before this request executed."),
    EXPIRED: (
        "batch_expired",
        "This request could not be executed before the completion window expired.",
    ),
}


class Gatherer:
    def __init__(self, database: Database, store: CallStore, finisher: Finisher) -> None:
        self.database = database
        self.store = store
        self.finisher = finisher
        self.batches = BatchStore(database)
        self.files = FileStore(database)

    async def run(self) -> None:
        for batch in await self.batches.open():
            await self._advance(batch)

    async def _advance(self, batch: Any) -> None:
        expired = (as_utc(batch.expires_at) or now()) <= now()
        if batch.status == "cancelling" or expired:
            outcome = Outcome("cancelled" if batch.status == "cancelling" else "expired")
            for row in await self.store.of_batch(batch.id, QUEUED):
                await self.finisher.finish(row, outcome, expect=QUEUED)
        counts = (await self.batches.counts([batch.id]))[batch.id]
        if any(counts.get(status) for status in WAITING):
            return
        output_id = error_id = None
        if batch.endpoint != MESSAGES:
            output, errors = await self._results(batch.id)
            output_id = await self._file(batch, "output", output)
            error_id = await self._file(batch, "errors", errors)
        final = "cancelled" if batch.status == "cancelling" else "expired" if expired else COMPLETED
        moment = now()
        await self.batches.move(
            batch.id,
            [batch.status],
            status=final,
            output_file_id=output_id,
            error_file_id=error_id,
            finalizing_at=moment,
            **{f"{final}_at": moment},
        )

    async def _results(self, batch_id: str) -> tuple[list[bytes], list[bytes]]:
        output: list[bytes] = []
        errors: list[bytes] = []
        for row in await results(self.database, batch_id):
            line: dict[str, Any] = {"id": f"batch_req_{row.id}", "custom_id": row.custom_id}
            not_run = NOT_RUN.get(row.status)
            if not_run is not None:
                line["response"] = None
                line["error"] = {"code": not_run[0], "message": not_run[1]}
            else:
                status = row.http_status or 500
                line["response"] = {
                    "status_code": status,
                    "request_id": row.id,
                    "body": row.response,
                }
                line["error"] = None
            (output if row.status == COMPLETED else errors).append(orjson.dumps(line))
        return output, errors

    async def _file(self, batch: Any, kind: str, lines: list[bytes]) -> str | None:
        if not lines:
            return None
        file_id = f"file-{batch.id.removeprefix('batch_')}-{kind}"
        data = b"\n".join(lines) + b"\n"
        await self.files.add(
            file_id, batch.workload, "batch_output", f"{batch.id}_{kind}.jsonl", data, batch.id
        )
        return file_id


async def results(database: Database, batch_id: str) -> list[Any]:
    """Every call of a batch with its outcome: id, custom_id, status, http_status, response."""
    query = (
        select(
            batch_calls.c.id,
            batch_calls.c.custom_id,
            batch_calls.c.status,
            batch_calls.c.http_status,
            calls.c.response,
        )
        .select_from(batch_calls.outerjoin(calls, calls.c.id == batch_calls.c.id))
        .where(batch_calls.c.batch_id == batch_id)
        .order_by(batch_calls.c.id)
    )
    async with database.engine.connect() as conn:
        return list(await conn.execute(query))
