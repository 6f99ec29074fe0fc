"""The request path shared by every generating route: auth, parse, inject, answer, record."""

from __future__ import annotations

import copy
import time
from typing import Any, Protocol

import orjson

from gateway.sim.call import Answer, Call
from gateway.sim.directive import DirectiveError, plan_for
from gateway.sim.echo import EchoAnswer, echoing
from gateway.sim.errors import (
    INJECTED,
    ODD_EVENT,
    ODD_WHOLE,
    UNAUTHORIZED,
    SimError,
    bad_request,
    error_response,
)
from gateway.sim.exchange import ClientGone, Exchange
from gateway.sim.pacing import Clock, stream_answer, whole_answer
from gateway.sim.state import SimState
from gateway.sim.stats import RequestRecord


class BadRequest(ValueError):
    """A request body the simulator refuses with 400."""


class Dialect(Protocol):
    """One API shape: how to read its requests and render answers to them."""

    api: str

    def api_key(self, ex: Exchange) -> str | None:
        """The key the client presented, the way this API carries it."""
        ...

    def read(self, state: SimState, ex: Exchange, body: dict[str, Any], call_id: int) -> Call:
        """The call a request body asks for; raises BadRequest or DirectiveError."""
        ...

    def answer(self, state: SimState, call: Call) -> Answer:
        """The rendering of `call` in this API's shape."""
        ...


async def serve(state: SimState, ex: Exchange, dialect: Dialect) -> None:
    """Answer one generation request and keep its stats record."""
    record = state.stats.open(
        ex.scope["path"], dialect.api, dialect.api_key(ex), ex.header(b"x-request-id")
    )
    arrived = time.monotonic()  # just after the record's wall-clock start: never before it
    try:
        await _serve(state, ex, dialect, record, arrived)
    except ClientGone:
        pass
    record.closed_at = ex.closed_at


async def _serve(
    state: SimState, ex: Exchange, dialect: Dialect, record: RequestRecord, arrived: float
) -> None:
    call = _read_call(state, ex, dialect, record, await ex.read_body())
    required = state.options.require_key
    if required is not None and record.api_key != required:
        return await fail(ex, dialect.api, record, UNAUTHORIZED)
    if isinstance(call, SimError):
        return await fail(ex, dialect.api, record, call)
    plan = call.plan
    record.error = plan.error
    key = record.api_key if plan.echo_key else None
    if plan.error is None and state.injects_failure():
        record.error = "500"
        return await fail(ex, dialect.api, record, echoing(INJECTED["500"], key))
    if plan.error == "odd_shape":
        return await answer_oddly(ex, dialect.api, call.stream, record)
    if plan.error is not None and plan.error not in ("mid_stream", "stall"):
        return await fail(ex, dialect.api, record, echoing(INJECTED[plan.error], key))
    answer = dialect.answer(state, call)
    if key is not None:
        answer = EchoAnswer(answer, dialect.api, key)
    clock = Clock(plan, arrived, record.started_at)
    if call.stream:
        record.status_code = 200
        ping_every = state.options.ping_every_ms / 1000.0
        await ex.guard(stream_answer(ex, answer, plan, clock, record, ping_every))
        return
    if not await whole_answer(ex, answer, plan, clock, record):
        return
    if plan.error == "mid_stream":
        return await fail(ex, dialect.api, record, echoing(INJECTED["500"], key))
    record.status_code = 200
    await ex.respond(200, answer.whole())
    record.completed = True


def _read_call(
    state: SimState, ex: Exchange, dialect: Dialect, record: RequestRecord, raw: bytes
) -> Call | SimError:
    """The call a body asks for (noted in the record, even if it is then refused), or a 400."""
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return bad_request("Request body is not valid JSON")
    if not isinstance(body, dict):
        return bad_request("Request body must be a JSON object")
    record.body_keys = sorted(body)
    record.stream_options = body.get("stream_options")
    try:
        call = dialect.read(_with_header_plan(state, ex), ex, body, record.id)
    except (BadRequest, DirectiveError) as exc:
        return bad_request(str(exc))
    record.model, record.stream, record.tag = call.model, call.stream, call.plan.tag
    return call


def _with_header_plan(state: SimState, ex: Exchange) -> SimState:
    """`state`, or with an `x-sim-directive: key=value ...` header a view of it whose default
    plan the header sets (a directive in the prompt still wins). A gateway provider's
    `headers` can so give each deployment on one simulator its own behaviour."""
    header = ex.header(b"x-sim-directive")
    if header is None:
        return state
    view = copy.copy(state)
    view.base_plan = plan_for(state.base_plan, f"[sim {header}]")
    return view


async def answer_oddly(ex: Exchange, api: str, stream: bool, record: RequestRecord) -> None:
    """HTTP 200 with a body that does not fit `api` (`error=odd_shape`)."""
    record.status_code = 200
    if stream:
        await ex.open_stream()
        await ex.end(ODD_EVENT[api])
    else:
        await ex.respond(200, ODD_WHOLE[api])


async def fail(ex: Exchange, api: str, record: RequestRecord, error: SimError) -> None:
    """Answer with `error` in the shape of `api`."""
    status, body, headers = error_response(api, error)
    record.status_code = status
    await ex.respond(status, body, headers)
