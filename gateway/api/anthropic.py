"""`POST /v1/messages`: the Anthropic Messages API as a raw ASGI endpoint.

A model of an Anthropic-kind provider is relayed natively (the client's `anthropic-version`
and `anthropic-beta` go along, the provider's key replaces the client's); any other model is
translated. Errors are in Anthropic's shape, an overload with Anthropic's own 529.
"""

from __future__ import annotations

from starlette.routing import Route as StarletteRoute
from starlette.types import Receive, Scope, Send

from gateway.api import shapes
from gateway.api.asgi import read_body
from gateway.api.request_id import request_id
from gateway.api.validation import parse_json_object, validate_anthropic
from gateway.dispatch import builder
from gateway.errors import GatewayError
from gateway.proxy import send_error
from gateway.state import GatewayState
from gateway.streaming.meter import Meter

FORWARDED_HEADERS = (b"anthropic-version", b"anthropic-beta")


def forwarded_headers(scope: Scope) -> dict[str, str]:
    """The client's Anthropic protocol headers, passed on to an Anthropic upstream."""
    return {
        name.decode(): value.decode("latin-1")
        for name, value in scope["headers"]
        if name in FORWARDED_HEADERS
    }


class MessagesEndpoint:
    """An ASGI app (not a Starlette endpoint) so it sees `http.disconnect` directly."""

    def __init__(self, state: GatewayState) -> None:
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        meter = Meter()  # started now: TTFT and overhead count from the request's arrival
        state = self.state
        try:
            identity = state.auth.authenticate(scope)
            raw = await read_body(scope, receive, state.settings.max_body_bytes)
            body = parse_json_object(raw)
            validate_anthropic(body)
            if state.batch.should_defer(identity, scope):
                await state.batch.accept(scope, send, identity, "messages", "anthropic", body)
                return
            stream = bool(body.get("stream"))
            call_id = request_id(scope)
            build = builder("anthropic", "messages", body, call_id, stream=stream,
                            client_headers=forwarded_headers(scope))  # fmt: skip
            plan = state.router.plan(body["model"], build)
            call = plan.live_call(call_id, identity, "messages", body, stream=stream, meter=meter,
                                  body_bytes=len(raw))
            await state.limits.admit(call, plan.served)
        except GatewayError as err:
            await send_error(send, err, shapes.ANTHROPIC)
            return
        await state.proxy.handle(receive, send, call, plan, shapes.ANTHROPIC)


def routes(state: GatewayState) -> list[StarletteRoute]:
    return [StarletteRoute("/v1/messages", MessagesEndpoint(state), methods=["POST"])]
