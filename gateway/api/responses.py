"""`/v1/responses`: the OpenAI Responses API for any configured model (`gateway.responses`).

`POST /v1/responses` is a raw ASGI endpoint like the other proxied routes (it sees
`http.disconnect`); the stored-response routes are small ASGI apps too, so every answer and
error is in OpenAI's shape.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qs

import orjson
from starlette.routing import Route as StarletteRoute
from starlette.types import Receive, Scope, Send

from gateway.api import shapes
from gateway.api.asgi import read_body, send_response
from gateway.api.request_id import request_id
from gateway.api.validation import (
    parse_json_object,
    validate_deferred_responses,
    validate_responses,
)
from gateway.auth import Identity
from gateway.errors import BadRequest, GatewayError
from gateway.proxy import send_error
from gateway.state import GatewayState


class CreateEndpoint:
    """`POST /v1/responses`: stream, whole, background, or deferred to the batch lane."""

    def __init__(self, state: GatewayState) -> None:
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        state = self.state
        try:
            identity = state.auth.authenticate(scope)
            body = parse_json_object(await read_body(scope, receive, state.settings.max_body_bytes))
            validate_responses(body)
            if state.batch.should_defer(identity, scope):
                validate_deferred_responses(body)
                await state.batch.accept(scope, send, identity, "responses", "responses", body)
                return
            background = bool(body.get("background"))
            stream = bool(body.get("stream")) or background
            run = await state.responses.prepare(identity, body, request_id(scope), stream=stream)
            await state.limits.admit(run.call, run.plan.served)
            if background:
                try:
                    answer = await state.background.start(run)
                except GatewayError:
                    state.limits.abandon(run.call.id)
                    raise
                await send_response(send, 200, orjson.dumps(answer))
                return
        except GatewayError as err:
            await send_error(send, err, shapes.OPENAI)
            return
        await state.responses.serve(receive, send, run)


Handler = Callable[[GatewayState, Identity, str, dict[str, str]], Awaitable[Any]]


class StoredEndpoint:
    """One route on a stored response: `GET`, `DELETE`, input items, cancel."""

    def __init__(self, state: GatewayState, handler: Handler) -> None:
        self.state = state
        self.handler = handler

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            identity = self.state.auth.authenticate(scope)
            query = {k: v[-1] for k, v in parse_qs(scope["query_string"].decode()).items()}
            answer = await self.handler(
                self.state, identity, scope["path_params"]["response_id"], query
            )
        except GatewayError as err:
            await send_error(send, err, shapes.OPENAI)
            return
        await send_response(send, 200, orjson.dumps(answer))


async def _retrieve(state: GatewayState, who: Identity, rid: str, query: dict[str, str]) -> Any:
    if query.get("stream") == "true":
        raise BadRequest("streaming a stored response is not supported", param="stream")
    return await state.background.retrieve(who, rid)


async def _delete(state: GatewayState, who: Identity, rid: str, query: dict[str, str]) -> Any:
    return await state.responses.delete(who, rid)


async def _cancel(state: GatewayState, who: Identity, rid: str, query: dict[str, str]) -> Any:
    return await state.background.cancel(who, rid)


async def _input_items(state: GatewayState, who: Identity, rid: str, query: dict[str, str]) -> Any:
    limit = query.get("limit", "20")
    if not limit.isdigit() or not 1 <= int(limit) <= 100:
        raise BadRequest("limit: an integer from 1 to 100", param="limit")
    order = query.get("order", "desc")
    if order not in ("asc", "desc"):
        raise BadRequest("order: 'asc' or 'desc'", param="order")
    return await state.responses.input_items(who, rid, int(limit), order, query.get("after"))


def routes(state: GatewayState) -> list[StarletteRoute]:
    one = "/v1/responses/{response_id}"
    return [
        StarletteRoute("/v1/responses", CreateEndpoint(state), methods=["POST"]),
        StarletteRoute(one, StoredEndpoint(state, _retrieve), methods=["GET"]),
        StarletteRoute(one, StoredEndpoint(state, _delete), methods=["DELETE"]),
        StarletteRoute(f"{one}/cancel", StoredEndpoint(state, _cancel), methods=["POST"]),
        StarletteRoute(f"{one}/input_items", StoredEndpoint(state, _input_items), methods=["GET"]),
    ]
