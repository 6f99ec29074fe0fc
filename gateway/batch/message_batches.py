"""Anthropic Message Batches served by the batch lane, for any model.

A batch is a row of `batches` (endpoint `/v1/messages`, no files) and each request one
deferred call (`batch_calls`, shape `anthropic`, its `custom_id`) in the lane of its model,
the same machinery as the OpenAI Batch API (`batch_api`): counts from the calls, cancel, the
worker's gatherer ending it. The results are read from the calls and their ledger rows, in
Anthropic's shape: `succeeded` with the message, `errored` with the error, `canceled`,
`expired`. Checked when created: each request's `custom_id` and `params` (a Messages body the
gateway can run for its model; `stream: true` is refused).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

import orjson

from gateway.api.validation import validate_anthropic
from gateway.auth import Identity
from gateway.batch.batch_api import BatchApi, BatchConflict
from gateway.batch.batches import MESSAGES, new_batch
from gateway.batch.errors import unavailable_database
from gateway.batch.gathering import results
from gateway.batch.records import new_call
from gateway.batch.store import CANCELLED, COMPLETED, EXPIRED, FAILED, WAITING
from gateway.batch.upstream import deferrable, prepare
from gateway.errors import BadRequest, GatewayError
from gateway.ids import new_call_id, new_id
from gateway.ledger.database import as_utc

if TYPE_CHECKING:
    from gateway.state import GatewayState

CUSTOM_ID = re.compile(r"[a-zA-Z0-9_-]{1,64}")
MAX_REQUESTS = 100_000
PROCESSING = {"in_progress": "in_progress", "cancelling": "canceling"}  # else "ended"
RESULT_TYPES = {COMPLETED: "succeeded", FAILED: "errored", CANCELLED: "canceled",
                EXPIRED: "expired"}  # fmt: skip


def _rfc3339(moment: datetime | None) -> str | None:
    moment = as_utc(moment)
    return None if moment is None else moment.isoformat().replace("+00:00", "Z")


def message_batch(row: Any, counts: dict[str, int], base_url: str) -> dict[str, Any]:
    """Anthropic's `message_batch` object (`results_url` once it has ended)."""
    status = PROCESSING.get(row.status, "ended")
    fields = row._mapping
    ended_at = next((fields[f"{s}_at"] for s in ("completed", "cancelled", "expired")
                     if fields[f"{s}_at"] is not None), None)  # fmt: skip
    results_url = f"{base_url}/v1/messages/batches/{row.id}/results" if status == "ended" else None
    return {
        "id": row.id,
        "type": "message_batch",
        "processing_status": status,
        "request_counts": {
            "processing": sum(counts.get(s, 0) for s in WAITING),
            "succeeded": counts.get(COMPLETED, 0),
            "errored": counts.get(FAILED, 0),
            "canceled": counts.get(CANCELLED, 0),
            "expired": counts.get(EXPIRED, 0),
        },
        "ended_at": _rfc3339(ended_at),
        "created_at": _rfc3339(row.created_at),
        "expires_at": _rfc3339(row.expires_at),
        "archived_at": None,
        "cancel_initiated_at": _rfc3339(row.cancelling_at),
        "results_url": results_url,
    }


class MessageBatches:
    def __init__(self, state: GatewayState, api: BatchApi) -> None:
        self.state = state
        self.api = api
        self.batches = api.batches

    async def create(
        self,
        identity: Identity,
        body: dict[str, Any],
        client_headers: Mapping[str, str],
        base_url: str,
    ) -> dict[str, Any]:
        requests = body.get("requests")
        if not isinstance(requests, list) or not requests:
            raise BadRequest("requests: must be a non-empty list", param="requests")
        if len(requests) > MAX_REQUESTS:
            raise BadRequest(f"requests: at most {MAX_REQUESTS} per batch", param="requests")
        batch_id = new_id("msgbatch_")
        seen: set[str] = set()
        calls = [
            self._call(identity, index, request, seen, batch_id, client_headers)
            for index, request in enumerate(requests)
        ]
        batch = new_batch(batch_id, identity, MESSAGES, len(calls))
        await self.api.lane.store_reserved(
            identity, batch_id, calls, lambda: self.batches.create(batch, calls)
        )
        await self.api.lane.push(calls)
        return await self.retrieve(identity, batch_id, base_url)

    async def retrieve(self, identity: Identity, batch_id: str, base_url: str) -> dict[str, Any]:
        row = await self.api.owned_batch(identity, batch_id, messages=True)
        with unavailable_database():
            counts = await self.batches.counts([batch_id])
        return message_batch(row, counts[batch_id], base_url)

    async def list(
        self, identity: Identity, limit: int, after: str | None, base_url: str
    ) -> dict[str, Any]:
        workload = None if identity.admin else identity.workload
        with unavailable_database():
            rows = await self.batches.newest(workload, limit + 1, after, messages=True)
            counts = await self.batches.counts([row.id for row in rows[:limit]])
        data = [message_batch(row, counts[row.id], base_url) for row in rows[:limit]]
        return {
            "data": data,
            "has_more": len(rows) > limit,
            "first_id": data[0]["id"] if data else None,
            "last_id": data[-1]["id"] if data else None,
        }

    async def cancel(self, identity: Identity, batch_id: str, base_url: str) -> dict[str, Any]:
        row = await self.api.owned_batch(identity, batch_id, messages=True)
        if row.status not in PROCESSING:
            raise BatchConflict(f"Message Batch {batch_id} has ended and cannot be canceled.")
        await self.api.start_cancel(row)
        return await self.retrieve(identity, batch_id, base_url)

    async def results(self, identity: Identity, batch_id: str) -> bytes:
        """The results as JSONL, once the batch has ended (409 before)."""
        row = await self.api.owned_batch(identity, batch_id, messages=True)
        if row.status in PROCESSING:
            raise BatchConflict(f"Message Batch {batch_id} has not ended; no results yet.")
        with unavailable_database():
            found = await results(self.batches.database, batch_id)
        lines = []
        for call in found:
            result: dict[str, Any] = {"type": RESULT_TYPES.get(call.status, "errored")}
            if call.status == COMPLETED:
                result["message"] = call.response
            elif call.status == FAILED:
                result["error"] = call.response
            lines.append(orjson.dumps({"custom_id": call.custom_id, "result": result}))
        return b"".join(line + b"\n" for line in lines)

    async def delete(self, identity: Identity, batch_id: str) -> dict[str, Any]:
        row = await self.api.owned_batch(identity, batch_id, messages=True)
        if row.status in PROCESSING:
            raise BatchConflict(f"Message Batch {batch_id} is still processing; cancel it first.")
        with unavailable_database():
            await self.batches.delete(batch_id)
        return {"id": batch_id, "type": "message_batch_deleted"}

    def _call(
        self,
        identity: Identity,
        index: int,
        request: Any,
        seen: set[str],
        batch_id: str,
        client_headers: Mapping[str, str],
    ) -> dict[str, Any]:
        where = f"requests[{index}]"
        custom_id = request.get("custom_id") if isinstance(request, dict) else None
        params = request.get("params") if isinstance(request, dict) else None
        if not isinstance(custom_id, str) or not CUSTOM_ID.fullmatch(custom_id):
            raise BadRequest(f"{where}.custom_id: must match ^[a-zA-Z0-9_-]{{1,64}}$",
                             param=f"{where}.custom_id")  # fmt: skip
        if custom_id in seen:
            raise BadRequest(f"{where}.custom_id: {custom_id!r} is not unique in the batch",
                             param=f"{where}.custom_id")  # fmt: skip
        seen.add(custom_id)
        if not isinstance(params, dict):
            raise BadRequest(f"{where}.params: Field required", param=f"{where}.params")
        if params.get("stream"):
            raise BadRequest(f"{where}.params.stream: streaming is not supported in batches",
                             param=f"{where}.params.stream")  # fmt: skip
        try:
            validate_anthropic(params)
            model, provider = self.state.resolve(params["model"])
            body = deferrable(params)
            call_id = new_call_id()
            prepare(provider, model, "anthropic", "messages", body, call_id, client_headers)
        except GatewayError as err:  # named by its place in the batch
            param = f"{where}.params" + (f".{err.param}" if err.param else "")
            err.message = f"{param}: {err.message.removeprefix(f'{err.param}: ')}"
            err.param = param
            raise
        return new_call(call_id, identity, model, provider, "messages", "anthropic", body,
                        client_headers=client_headers, custom_id=custom_id,
                        batch_id=batch_id)  # fmt: skip

