"""The Responses API as the gateway serves it: one call per response, relayed or translated
by the dispatcher, its Response object stored (unless `store: false`) before the client gets
its last bytes, so a `previous_response_id` chain can continue at once on any replica.

A workload sees only its own stored responses (the admin key sees all).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from starlette.types import Message, Receive, Send

from gateway.api import shapes
from gateway.api.shapes import ErrorShape
from gateway.auth import Identity
from gateway.calls import Call
from gateway.dispatch import builder
from gateway.errors import BadRequest, GatewayError, NotFound
from gateway.ledger.database import Database
from gateway.responses.items import page, replayed, stored_items
from gateway.responses.store import ResponseStore
from gateway.routing.plan import Plan
from gateway.translate.responses_reply import NativeResponses, TranslatedResponses
from gateway.translate.responses_request import message_items
from gateway.translate.responses_response import TERMINAL

log = logging.getLogger("gateway.responses")

Reply = NativeResponses | TranslatedResponses


class StoreUnavailable(GatewayError):
    status = 503
    type = "server_error"
    code = "store_unavailable"


@dataclass(slots=True)
class Run:
    """One response being produced: its call, its plan (deployments, the attempt under way
    and its reply) and what to store."""

    call: Call
    plan: Plan
    body: dict[str, Any]
    items: list[dict[str, Any]] = field(default_factory=list)

    @property
    def reply(self) -> Reply:
        """The reply of the attempt that answers (a retry on another provider has its own)."""
        reply: Reply = self.plan.reply
        return reply

    @property
    def shape(self) -> ErrorShape:
        """OpenAI's error shape, with `response.failed` for errors after the stream began."""
        return ErrorShape(
            shapes.OPENAI.status, shapes.OPENAI.body, lambda err: self.reply.failed_event(err)
        )

    @property
    def stored(self) -> bool:
        return self.body.get("store") is not False


class ResponsesService:
    def __init__(self, state: Any, database: Database | None) -> None:
        self.state = state
        self.store = ResponseStore(database) if database is not None else None

    async def prepare(
        self, identity: Identity, body: dict[str, Any], call_id: str, *, stream: bool
    ) -> Run:
        """The call for a validated body, with the stored conversation it continues."""
        self.state.router.route(body["model"])  # an unknown model is a 404 before the store
        upstream = body
        previous = body.get("previous_response_id")
        if previous:
            with store_errors():
                chain = await self.storage().chain(previous, _owner(identity))
            if chain is None:
                raise NotFound(
                    f"Previous response with id '{previous}' not found.",
                    param="previous_response_id",
                )
            upstream = {**body, "input": replayed(chain) + message_items(body.get("input"))}
        build = builder("responses", "responses", upstream, call_id, stream=stream)
        plan = self.state.router.plan(body["model"], build)
        call = plan.live_call(call_id, identity, "responses", upstream, stream=stream)
        return Run(call, plan, body, stored_items(body.get("input")))

    async def serve(self, receive: Receive, send: Send, run: Run) -> None:
        """Run a live response; store it just before the client gets its terminal bytes."""
        saved = False

        async def storing_send(message: Message) -> None:
            nonlocal saved
            if not saved and message["type"] == "http.response.body" and run.reply.finished:
                saved = True
                await self.save(run)
            await send(message)

        await self.state.proxy.handle(receive, storing_send, run.call, run.plan, run.shape)
        if not saved and run.call.streaming_started:
            await self.save(run)  # the client left mid-stream, or the gateway cut it short

    async def save(self, run: Run, response: dict[str, Any] | None = None, **row: Any) -> None:
        """Store the run's Response object (never fails the call: a store outage is logged)."""
        response = response or _closed(run)
        if self.store is None or not run.stored or response is None or "id" not in response:
            return
        values = {
            "id": response["id"],
            "call_id": run.call.id,
            "workload": run.call.identity.workload,
            "model": run.call.model.name,
            "status": response.get("status") or "completed",
            "background": bool(run.body.get("background")),
            "previous_response_id": run.body.get("previous_response_id"),
            "input": run.items,
            "response": response,
            "cancel_requested": False,
            **row,
        }
        try:
            await self.store.save(values)
        except Exception as exc:
            log.warning("responses: could not store %s: %s", response["id"], exc)

    # --- stored responses ----------------------------------------------------------------

    async def row(self, identity: Identity, response_id: str) -> Any:
        """The stored row of `response_id` if `identity` may see it, else NotFound."""
        with store_errors():
            row = await self.storage().get(response_id)
        owner = _owner(identity)
        if row is None or (owner is not None and row.workload != owner):
            raise NotFound(f"Response with id '{response_id}' not found.", param="response_id")
        return row

    async def input_items(
        self, identity: Identity, response_id: str, limit: int, order: str, after: str | None
    ) -> dict[str, Any]:
        row = await self.row(identity, response_id)
        return page(row.input, limit, order, after)

    async def delete(self, identity: Identity, response_id: str) -> dict[str, Any]:
        await self.row(identity, response_id)
        with store_errors():
            await self.storage().delete(response_id)
        return {"id": response_id, "object": "response", "deleted": True}

    def storage(self) -> ResponseStore:
        if self.store is None:
            raise StoreUnavailable("stored responses need the ledger database; none is set")
        return self.store


@contextmanager
def store_errors() -> Iterator[None]:
    """A database failure is a 503 in OpenAI's shape, never a 500 with a traceback."""
    try:
        yield
    except GatewayError:
        raise
    except Exception as exc:
        log.warning("responses: the store failed: %s", exc)
        raise StoreUnavailable("the response store is unavailable; try again") from None


def _owner(identity: Identity) -> str | None:
    return None if identity.admin else identity.workload


def _closed(run: Run) -> dict[str, Any] | None:
    """The Response object once the call ended, with the status the call ended in."""
    response = run.reply.result()
    if response is None:
        return None
    call = run.call
    if response.get("status") not in TERMINAL:
        response = dict(response)
        if call.status == "cancelled":
            response["status"] = "cancelled"
        else:
            response["status"] = "failed"
            response["error"] = {"code": "server_error", "message": call.error or "it broke off"}
    return response


def refuse_non_background(row: Any) -> None:
    if not row.background:
        raise BadRequest("only background responses can be cancelled", param="response_id")

