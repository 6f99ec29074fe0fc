"""OpenAI-shaped routes: chat, completions, embeddings (raw ASGI endpoints).

A model of an OpenAI-kind provider is relayed natively; chat calls to other kinds are
translated (`gateway.translate`).
"""

from __future__ import annotations

from starlette.routing import Route as StarletteRoute
from starlette.types import Receive, Scope, Send

from gateway.api import shapes
from gateway.api.asgi import read_body
from gateway.api.request_id import request_id
from gateway.api.validation import parse_json_object, validate_openai
from gateway.dispatch import builder
from gateway.errors import GatewayError
from gateway.providers.base import Route
from gateway.proxy import send_error
from gateway.state import GatewayState
from gateway.streaming.meter import Meter


class OpenAIEndpoint:
    """One proxied OpenAI route; an ASGI app so it sees `http.disconnect` directly."""

    def __init__(self, state: GatewayState, route: Route) -> None:
        self.state = state
        self.route = route

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        meter = Meter()
        state = self.state
        try:
            identity = state.auth.authenticate(scope)
            raw = await read_body(scope, receive, state.settings.max_body_bytes)
            body = parse_json_object(raw)
            validate_openai(self.route, body)
            if state.batch.should_defer(identity, scope):
                await state.batch.accept(scope, send, identity, self.route, "openai", body)
                return
            stream = bool(body.get("stream"))
            call_id = request_id(scope)
            plan = state.router.plan(
                body["model"], builder("openai", self.route, body, call_id, stream=stream)
            )
            call = plan.live_call(call_id, identity, self.route, body, stream=stream, meter=meter,
                                  body_bytes=len(raw))
            await state.limits.admit(call, plan.served)
        except GatewayError as err:
            await send_error(send, err, shapes.OPENAI)
            return
        await state.proxy.handle(receive, send, call, plan, shapes.OPENAI)


def routes(state: GatewayState) -> list[StarletteRoute]:
    return [
        StarletteRoute("/v1/chat/completions", OpenAIEndpoint(state, "chat"), methods=["POST"]),
        StarletteRoute("/v1/completions", OpenAIEndpoint(state, "completions"), methods=["POST"]),
        StarletteRoute("/v1/embeddings", OpenAIEndpoint(state, "embeddings"), methods=["POST"]),
    ]
