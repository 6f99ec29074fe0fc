"""Answering one batch item with the synchronous route's dialect, without pacing."""

from __future__ import annotations

from typing import Any

import orjson

from gateway.sim.batch_job import ItemResult
from gateway.sim.directive import DirectiveError, Plan
from gateway.sim.echo import echo_body, echoing
from gateway.sim.errors import INJECTED, SimError, bad_request, error_payload, status_for
from gateway.sim.exchange import Exchange
from gateway.sim.files import new_id
from gateway.sim.generation import BadRequest, Dialect
from gateway.sim.state import SimState

CUT_SHORT = ("mid_stream", "stall")


def answer_item(
    state: SimState, ex: Exchange, dialect: Dialect, custom_id: str, body: dict[str, Any]
) -> ItemResult:
    """The result of `body` as the synchronous route would answer it (non-streaming)."""
    request_id = new_id("req_")
    try:
        call = dialect.read(state, ex, body, state.batches.next_call_id())
    except (BadRequest, DirectiveError) as exc:
        return failed_item(dialect.api, custom_id, request_id, bad_request(str(exc)))
    plan = call.plan
    key = dialect.api_key(ex) if plan.echo_key else None
    if plan.error is not None:
        error = INJECTED["500" if plan.error in CUT_SHORT else plan.error]
        return failed_item(dialect.api, custom_id, request_id, echoing(error, key), plan)
    if state.batches.injects_failure():
        error = echoing(INJECTED["500"], key)
        return failed_item(dialect.api, custom_id, request_id, error, plan)
    call.stream = False
    answer = dialect.answer(state, call)
    return ItemResult(
        custom_id,
        200,
        echo_body(answer.whole(), key),
        request_id,
        input_tokens=call.input_tokens,
        output_tokens=answer.units,
        plan=plan,
    )


def failed_item(
    api: str, custom_id: str, request_id: str, error: SimError, plan: Plan | None = None
) -> ItemResult:
    """An item answered with `error` in the shape of `api`."""
    body = orjson.dumps(error_payload(api, error))
    return ItemResult(custom_id, status_for(api, error), body, request_id, error, plan=plan)
