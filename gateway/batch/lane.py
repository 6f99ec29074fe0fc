"""The request side of the batch lane: defer a call (202), describe it, keep the queue gauge.

`GatewayState.batch` is a `BatchLane`. The live endpoints ask `should_defer` (no I/O, no
allocation) and hand deferred calls to `accept`, which stores the call (the database is the
source of truth) before answering, then pushes it to its lane's queue. The lane also starts the
in-process worker unless `batch_worker` is off (`gateway serve --no-worker`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any

import orjson
from starlette.types import Scope, Send

from gateway.api.asgi import send_response
from gateway.api.request_id import request_id
from gateway.api.validation import check_storable
from gateway.auth import Identity
from gateway.batch.batch_api import BatchApi
from gateway.batch.errors import BatchUnavailable, unavailable_database
from gateway.batch.message_batches import MessageBatches
from gateway.batch.queue import Lane, Queue
from gateway.batch.records import describe, lane_of, new_call
from gateway.batch.routing import Router
from gateway.batch.store import TERMINAL, CallStore
from gateway.batch.upstream import deferrable, prepare
from gateway.ledger.database import Database
from gateway.ledger.queries import LedgerQueries
from gateway.metrics import BATCH_QUEUE_DEPTH

if TYPE_CHECKING:
    from gateway.batch.worker import BatchWorker
    from gateway.state import GatewayState

log = logging.getLogger("gateway.batch")

GAUGE_INTERVAL = 1.0


class BatchLane:
    def __init__(self, state: GatewayState, database: Database | None) -> None:
        self.state = state
        self.settings = state.settings
        self.router = Router(state.settings)
        self.database = database
        self.store = CallStore(database) if database is not None else None
        self.api = BatchApi(self, database) if database is not None else None
        self.queue: Queue | None = None
        self.worker: BatchWorker | None = None
        self._gauge: asyncio.Task[None] | None = None

    def should_defer(self, identity: Identity, scope: Scope) -> bool:
        """Whether the call goes to the batch lane (raises BadRequest for a bad header)."""
        return self.router.defers(identity, scope)

    async def accept(
        self,
        scope: Scope,
        send: Send,
        identity: Identity,
        route: str,
        shape: str,
        body: dict[str, Any],
    ) -> None:
        """Store a deferred call and answer 202 with its id."""
        from gateway.api.anthropic import forwarded_headers

        store = self._store()
        call_id = request_id(scope)
        model, provider = self.state.resolve(body["model"])
        callback_url = self.router.callback_url(scope)
        headers = forwarded_headers(scope) if shape == "anthropic" else None
        check_storable(body)  # it is stored: no NUL, bounded nesting (before the deep copy)
        check_storable({"X-Gateway-Callback-Url": callback_url, **(headers or {})})
        body = deferrable(body)
        prepare(provider, model, shape, route, body, call_id, headers)  # a 400 now, not later
        row = new_call(
            call_id,
            identity,
            model,
            provider,
            route,
            shape,
            body,
            client_headers=headers,
            callback_url=callback_url,
        )
        await self.store_reserved(identity, call_id, [row], lambda: store.insert([row]))
        await self.push([row])
        answer = {"id": call_id, "object": "gateway.request", "status": "queued"}
        await send_response(send, 202, orjson.dumps(answer))

    async def store_reserved(
        self,
        identity: Identity,
        reservation: str,
        rows: Sequence[dict[str, Any]],
        write: Callable[[], Awaitable[Any]],
    ) -> None:
        """Reserve new deferred calls' cost (`reservation`: the call's id, or the batch's) in
        the caller's budgets (a 429 if they do not fit), then store them; a write that fails
        drops the reservation."""
        models = self.state.models
        lines = [(models[r["model"]], r["route"], r["body"], r["lane"]) for r in rows]
        await self.state.limits.admit_deferred(identity, reservation, lines)
        try:
            with unavailable_database():
                await write()
        except BaseException:
            self.state.limits.abandon(reservation)
            raise

    async def push(self, rows: Sequence[dict[str, Any]]) -> None:
        """Tell the queue about new calls; if it cannot hear it, the worker's reconcile will."""
        if self.queue is None:
            return  # no queue here: a separate worker finds them in the database
        by_lane: dict[Lane, list[str]] = {}
        for row in rows:
            by_lane.setdefault(lane_of(row), []).append(row["id"])
        try:
            for lane, call_ids in by_lane.items():
                await self.queue.push(lane, call_ids)
        except Exception as exc:
            log.warning("batch: could not enqueue %d calls (%s); the worker will", len(rows), exc)

    async def describe(self, call_id: str, ledger_record: dict[str, Any] | None) -> Any:
        """`ledger_record` with the deferred call's status, if `call_id` was deferred."""
        if self.store is None:
            return ledger_record
        row = await self.store.get(call_id)
        if row is None:
            return ledger_record
        if ledger_record is None and row.status in TERMINAL:
            # It finished since `ledger_record` was read: its row came in the same transaction.
            ledger_record = await LedgerQueries(self.store.database).get(call_id)
        return describe(row, ledger_record)

    def _store(self) -> CallStore:
        if self.store is None:
            raise _no_database()
        return self.store

    def batch_api(self) -> BatchApi:
        """The Batch API (files and batches); 503 without a database."""
        if self.api is None:
            raise _no_database()
        return self.api

    def message_batches(self) -> MessageBatches:
        """Anthropic Message Batches; 503 without a database."""
        return MessageBatches(self.state, self.batch_api())

    async def start(self) -> None:
        if self.database is None:
            return
        from gateway.batch.worker import BatchWorker, build_queue, worker_name

        settings = self.settings
        name = worker_name()
        if settings.redis_url or settings.batch_worker:
            self.queue = build_queue(settings, name)
        if settings.batch_worker:
            assert self.queue is not None
            self.worker = BatchWorker(
                settings,
                self.database,
                self.queue,
                self.state.pool,
                self.state.providers,
                owner=name,
                limits=self.state.limits,
            )
            await self.worker.start()
        self._gauge = asyncio.create_task(self._keep_gauge(), name="batch-gauge")

    async def close(self) -> None:
        if self._gauge is not None:
            self._gauge.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._gauge
        if self.worker is not None:
            await self.worker.close()
        if self.queue is not None:
            with contextlib.suppress(Exception):
                await self.queue.close()

    async def _keep_gauge(self) -> None:
        """`gateway_batch_queue_depth{provider,model}`: calls not yet answered, per lane."""
        assert self.store is not None
        lanes = [(m.provider, m.name) for m in self.settings.models]
        while True:
            try:
                waiting = await self.store.waiting_by_lane()
            except Exception:  # the database is down: the gauge keeps its last value
                await asyncio.sleep(GAUGE_INTERVAL * 5)
                continue
            for lane in {*lanes, *waiting}:
                BATCH_QUEUE_DEPTH.labels(*lane).set(waiting.get(lane, 0))
            await asyncio.sleep(GAUGE_INTERVAL)


def _no_database() -> BatchUnavailable:
    return BatchUnavailable("the batch lane needs the ledger database; none is configured")
