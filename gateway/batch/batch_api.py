"""The OpenAI Batch API served by the gateway, for any model: files and batches.

An input file is validated when it is uploaded (`jsonl`); a batch turns each of its lines into
a deferred call (its own call id and ledger row) in the lane of the line's model, so one file
may mix models and providers. A workload sees only its own files and batches (the admin key
sees all). Cancelling stops the calls still queued; calls already in a provider job or running
finish normally; the batch ends `cancelled` once none is waiting.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gateway.api.validation import check_storable, validate_deferred_responses, validate_openai
from gateway.auth import Identity
from gateway.batch.batches import MESSAGES, WINDOW, BatchStore, batch_object, new_batch
from gateway.batch.errors import unavailable_database
from gateway.batch.files import FileStore, file_object
from gateway.batch.jsonl import ENDPOINTS, InvalidFile, Line, parse_lines
from gateway.batch.records import new_call
from gateway.batch.upstream import deferrable, prepare
from gateway.errors import BadRequest, GatewayError, NotFound, PayloadTooLarge
from gateway.ids import new_call_id, new_id
from gateway.ledger.database import Database, now

if TYPE_CHECKING:
    from gateway.batch.lane import BatchLane

MAX_METADATA = 16


class FileTooLarge(PayloadTooLarge):
    code = "file_too_large"


class BatchConflict(GatewayError):
    status = 409
    type = "invalid_request_error"
    code = "batch_not_cancellable"


class BatchApi:
    def __init__(self, lane: BatchLane, database: Database) -> None:
        self.lane = lane
        self.settings = lane.settings
        self.files = FileStore(database)
        self.batches = BatchStore(database)

    # --- files ----------------------------------------------------------------------------

    async def upload(self, identity: Identity, filename: str, purpose: str, data: bytes) -> dict:
        files = self.files
        if purpose != "batch":
            raise BadRequest(
                f"purpose: only 'batch' is supported, got {purpose!r}", param="purpose"
            )
        check_storable(filename, "filename")
        limit = self.settings.batch_file_max_bytes
        if len(data) > limit:
            raise FileTooLarge(
                f"the file is {len(data)} bytes; the limit is {limit} (batch_file_max_bytes)",
                param="file",
            )
        parse_lines(data, self._check)
        file_id = new_id("file-")
        with unavailable_database():
            await files.add(file_id, identity.workload, purpose, filename, data)
            row = await files.get(file_id)
        assert row is not None
        return file_object(row)

    async def file(self, identity: Identity, file_id: str) -> dict[str, Any]:
        return file_object(await self._owned_file(identity, file_id))

    async def content(self, identity: Identity, file_id: str) -> bytes:
        await self._owned_file(identity, file_id)
        with unavailable_database():
            return await self.files.data(file_id) or b""

    # --- batches --------------------------------------------------------------------------

    async def create(self, identity: Identity, body: dict[str, Any]) -> dict[str, Any]:
        batches = self.batches
        endpoint, file_id, metadata = _create_fields(body)
        source = await self._owned_file(identity, file_id, param="input_file_id")
        if source.purpose != "batch":
            raise BadRequest(
                f"file {file_id} has purpose {source.purpose!r}, not 'batch'", param="input_file_id"
            )
        with unavailable_database():
            data = await self.files.data(file_id) or b""
        lines = parse_lines(data, self._check)
        _same_endpoint(lines, endpoint)
        batch_id = new_id("batch_")
        calls = [self._call(identity, line, batch_id) for line in lines]
        batch = new_batch(batch_id, identity, endpoint, len(calls), file_id, metadata)
        await self.lane.store_reserved(
            identity, batch_id, calls, lambda: batches.create(batch, calls)
        )
        await self.lane.push(calls)
        return await self.retrieve(identity, batch_id)

    async def retrieve(self, identity: Identity, batch_id: str) -> dict[str, Any]:
        row = await self.owned_batch(identity, batch_id)
        with unavailable_database():
            counts = await self.batches.counts([batch_id])
        return batch_object(row, counts[batch_id])

    async def list(self, identity: Identity, limit: int, after: str | None) -> dict[str, Any]:
        batches = self.batches
        workload = None if identity.admin else identity.workload
        with unavailable_database():
            rows = await batches.newest(workload, limit + 1, after)
            counts = await batches.counts([row.id for row in rows[:limit]])
        data = [batch_object(row, counts[row.id]) for row in rows[:limit]]
        return {
            "object": "list",
            "data": data,
            "first_id": data[0]["id"] if data else None,
            "last_id": data[-1]["id"] if data else None,
            "has_more": len(rows) > limit,
        }

    async def cancel(self, identity: Identity, batch_id: str) -> dict[str, Any]:
        await self.start_cancel(await self.owned_batch(identity, batch_id))
        return await self.retrieve(identity, batch_id)

    async def start_cancel(self, row: Any) -> None:
        """in_progress -> cancelling; the worker then cancels its queued calls."""
        if row.status not in ("in_progress", "cancelling"):
            raise BatchConflict(f"cannot cancel a batch with status {row.status!r}")
        with unavailable_database():
            await self.batches.move(
                row.id, ["in_progress"], status="cancelling", cancelling_at=now()
            )

    # --- helpers --------------------------------------------------------------------------

    def _check(self, route: str, body: dict[str, Any]) -> None:
        """A line's body is a call this gateway can run (the same checks as a live call)."""
        if route == "responses":
            validate_deferred_responses(body)
        else:
            validate_openai(route, body)
        model, provider = self.lane.state.resolve(body["model"])
        prepare(provider, model, shape_of(route), route, deferrable(body), "check")

    def _call(self, identity: Identity, line: Line, batch_id: str) -> dict[str, Any]:
        model, provider = self.lane.state.resolve(line.body["model"])
        return new_call(
            new_call_id(),
            identity,
            model,
            provider,
            line.route,
            shape_of(line.route),
            deferrable(line.body),
            custom_id=line.custom_id,
            batch_id=batch_id,
        )

    async def _owned_file(self, identity: Identity, file_id: str, param: str = "id") -> Any:
        with unavailable_database():
            row = await self.files.get(file_id)
        if row is None or not (identity.admin or row.workload == identity.workload):
            raise NotFound(f"No such File object: {file_id}", param=param)
        return row

    async def owned_batch(self, identity: Identity, batch_id: str, messages: bool = False) -> Any:
        """The caller's batch (an OpenAI one, or a Message Batch if `messages`), else 404."""
        with unavailable_database():
            row = await self.batches.get(batch_id)
        if (
            row is None
            or (row.endpoint == MESSAGES) != messages
            or not (identity.admin or row.workload == identity.workload)
        ):
            raise NotFound(f"No batch found with id '{batch_id}'.", param="id")
        return row


def _create_fields(body: dict[str, Any]) -> tuple[str, str, dict[str, str] | None]:
    file_id = body.get("input_file_id")
    if not isinstance(file_id, str) or not file_id:
        raise BadRequest("Missing required parameter: 'input_file_id'.", param="input_file_id")
    check_storable(file_id, "input_file_id")  # looked up in the database
    endpoint = body.get("endpoint")
    if not isinstance(endpoint, str) or endpoint not in ENDPOINTS:
        raise BadRequest(
            f"endpoint: expected one of {', '.join(ENDPOINTS)}, got {endpoint!r}", param="endpoint"
        )
    if body.get("completion_window") != WINDOW:
        raise BadRequest("completion_window: only '24h' is supported", param="completion_window")
    metadata = body.get("metadata")
    if metadata is not None and not (
        isinstance(metadata, dict)
        and len(metadata) <= MAX_METADATA
        and all(isinstance(k, str) and isinstance(v, str) for k, v in metadata.items())
    ):
        raise BadRequest(
            f"metadata: at most {MAX_METADATA} string keys and values", param="metadata"
        )
    check_storable(metadata, "metadata")
    return endpoint, file_id, metadata


def _same_endpoint(lines: list[Line], endpoint: str) -> None:
    wrong = [line for line in lines if line.url != endpoint]
    if wrong:
        first = wrong[0]
        raise InvalidFile(
            f"line {first.number}: url {first.url!r} does not match the batch endpoint "
            f"{endpoint!r}",
            param="input_file_id",
        )


def shape_of(route: str) -> str:
    """The API a Batch API line speaks: OpenAI's chat-era routes, or the Responses API."""
    return "responses" if route == "responses" else "openai"
