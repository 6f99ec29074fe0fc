"""Finishing a deferred call: the provider's answer in the caller's shape, its ledger row,
and its final status, written together so the call is answered and billed exactly once.

The ledger row is the one the writer would make (`costing.row_for`, mode `batch`) and goes in
with the writer's idempotent insert, in the transaction that moves the call to its final status
(`CallStore.finish`): a worker that dies in between leaves neither, and a second worker finishing
the same call changes nothing. The native lane's price is discounted by the model's
`batch_discount` (credited as `batch_savings_usd`); the emulated lane pays the provider's
synchronous price, so it records no savings. The stored response and error are masked of every
configured secret first (`redaction`): records and Batch API output files are built from them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import orjson
from sqlalchemy import Row

from gateway import tokens
from gateway.api import shapes
from gateway.auth import Identity
from gateway.batch.errors import CallCancelled, CallExpired, OutcomeUnrecorded, database_outage
from gateway.batch.store import CANCELLED, COMPLETED, EXPIRED, FAILED, CallStore
from gateway.batch.upstream import prepare_call, stored_model
from gateway.calls import Call
from gateway.config import ModelConfig, Settings
from gateway.errors import GatewayError, UpstreamError
from gateway.ledger import costing
from gateway.ledger.database import as_utc
from gateway.ledger.rows import observe_rows
from gateway.metrics import observe_call
from gateway.providers.base import Provider
from gateway.providers.errors import error_from_response
from gateway.redaction import Redactor, secrets_of
from gateway.streaming.meter import Meter

log = logging.getLogger("gateway.batch")

Kind = Literal["succeeded", "errored", "expired", "cancelled"]


@dataclass(frozen=True, slots=True)
class Outcome:
    """What became of one call: the provider's answer, or why there is none."""

    kind: Kind
    body: bytes = b""  # the provider's response body (succeeded)
    error: GatewayError | None = None  # errored

    @classmethod
    def from_status(cls, provider: Provider, status: int, body: bytes) -> Outcome:
        """An HTTP answer: 2xx succeeded, else the mapped upstream error."""
        if status < 400:
            return cls("succeeded", body)
        return cls("errored", error=error_from_response(provider, status, body, None))


class Finisher:
    def __init__(
        self,
        settings: Settings,
        store: CallStore,
        providers: dict[str, Provider],
        settle: Callable[[dict[str, Any], Row[Any]], None] | None = None,
    ) -> None:
        self.settings = settings
        self.settle = settle  # the limits: the call's reservation becomes its bill
        self.store = store
        self.providers = providers
        self.billing = {p.name: p.billing_after_cancel for p in settings.providers}
        self.redactor = Redactor(secrets_of(settings))

    async def finish(
        self,
        row: Row[Any],
        outcome: Outcome,
        *,
        expect: str,
        job_id: str | None = None,
        owner: str | None = None,
    ) -> bool:
        """Record the outcome if the call is still `expect`; whether this worker did.

        A database outage propagates: the caller keeps the outcome and tries again later. Any
        other failure (the database refused the row, the answer could not be read) is logged
        and the call ends `failed` with the reason, so the provider never runs it again."""
        try:
            return await self._record(row, outcome, expect, job_id, owner)
        except Exception as exc:
            if database_outage(exc):
                raise
            reason = type(exc).__name__
            log.warning(
                "batch: could not record the outcome of call %s (%s: %s); it ends failed",
                row.id,
                reason,
                str(exc).splitlines()[0][:300] if str(exc) else "",
            )
            error = OutcomeUnrecorded(
                f"the gateway could not record the provider's answer ({reason}); "
                "the call was not run again"
            )
            return await self._record(row, Outcome("errored", error=error), expect, job_id, owner)

    async def _record(
        self, row: Row[Any], outcome: Outcome, expect: str, job_id: str | None, owner: str | None
    ) -> bool:
        call, status, response = self._apply(row, outcome)
        if call.error:  # stored, and shown to the caller: no provider secret in it
            call.error = self.redactor.text(call.error)
        call.finished_at = datetime.now(UTC)
        if costing.needs_tokenizer(call):
            ledger_row = await tokens.off_loop(self._ledger_row, call)
        else:
            ledger_row = self._ledger_row(call)
        ledger_row["response"] = response
        ledger_row["ttft_ms"] = None  # nothing was streamed to anyone
        values = {"status": status, "http_status": call.http_status, "error": call.error}
        won = await self.store.finish(
            row.id, values, ledger_row, expect=expect, job_id=job_id, owner=owner
        )
        if won:
            observe_call(call)
            observe_rows([ledger_row])
            if self.settle is not None:
                self.settle(ledger_row, row)
        return won

    def _apply(self, row: Row[Any], outcome: Outcome) -> tuple[Call, str, Any]:
        model = self._model(row)
        call = Call(
            id=row.id,
            identity=Identity(row.workload, key_id=row.key_id),
            route=row.route,
            model=model,
            provider=row.provider,
            mode="batch",
            meter=Meter(),
            request_body=row.body,
            created_at=as_utc(row.created_at) or row.created_at,
        )
        shape = shapes.for_api(row.shape)
        error = outcome.error
        if outcome.kind == "succeeded":
            try:
                payload = self._reply(row).whole(outcome.body, call.meter)
                return call, COMPLETED, self._stored(payload)
            except (GatewayError, orjson.JSONDecodeError) as exc:
                error = (
                    exc
                    if isinstance(exc, GatewayError)
                    else UpstreamError(
                        f"provider {row.provider!r} answered with a body that is not JSON"
                    )
                )
        elif outcome.kind == "expired":
            error = CallExpired("the provider's batch window closed before this call ran")
        elif outcome.kind == "cancelled":
            error = CallCancelled("the batch was cancelled before this call ran")
            call.cancel("explicit", None)
            return call, CANCELLED, self._stored(shape.body(error))
        error = error or UpstreamError("the provider reported no result for this call")
        call.fail(error.status, error.message)
        status = EXPIRED if outcome.kind == "expired" else FAILED
        return call, status, self._stored(shape.body(error))

    def _stored(self, body: bytes) -> Any:
        """The response as the ledger keeps it: parsed, with every provider secret masked
        (an upstream that echoes its key in a result must not get it into a record)."""
        return orjson.loads(self.redactor.bytes(body))

    def _reply(self, row: Row[Any]) -> Any:
        provider = self.providers.get(row.provider)
        if provider is None:
            raise UpstreamError(f"provider {row.provider!r} is no longer configured")
        return prepare_call(self.settings, provider, row).reply

    def _model(self, row: Row[Any]) -> ModelConfig:
        model = stored_model(self.settings, row.model, row.provider)
        if row.lane == "emulated":
            model = model.model_copy(update={"batch_discount": 0.0})
        return model

    def _ledger_row(self, call: Call) -> dict[str, Any]:
        billing = self.billing.get(call.provider, "delivered")
        try:
            return costing.row_for(call, billing)
        except Exception:
            log.exception("batch: could not meter call %s; recorded with zero tokens", call.id)
            return costing.row_for(call, billing, costing.Tokens(0, 0, 0, "estimated"))
