"""The Gemini API's own routes, so the google-genai SDK works with its `base_url` pointed here:
`POST /v1beta/models/{model}:{method}` (and `/v1/models/...`, the SDK's default version) for
`generateContent`, `streamGenerateContent?alt=sse`, `countTokens`, `embedContent` and
`batchEmbedContents`.

Any configured model: a Gemini-kind model is relayed natively (bytes untouched, parsed on the
side for the meter); others are translated (`gateway.translate.gemini_*`). The key may come as
`x-goog-api-key` or `?key=` (the query is never logged) besides the usual headers. Errors are in
Gemini's shape `{"error": {code, message, status}}`. Generation and embedding calls run through
the proxy like every other route: end-to-end abort, a ledger row (route `gemini`,
`gemini_embed`, `gemini_batch_embed`), metrics, and batch lane deferral.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

import orjson
from starlette.routing import Route as StarletteRoute
from starlette.types import Receive, Scope, Send

from gateway import tokens
from gateway.api import shapes
from gateway.api.asgi import header, read_body, send_response
from gateway.api.count_tokens import relay_count
from gateway.api.request_id import request_id
from gateway.api.validation import parse_json_object
from gateway.auth import Identity
from gateway.dispatch import builder
from gateway.errors import BadRequest, GatewayError, NotFound
from gateway.ledger.prompts import prompt_tokens
from gateway.providers.base import Route
from gateway.proxy import send_error
from gateway.state import GatewayState
from gateway.streaming.meter import Meter

ROUTES: dict[str, Route] = {
    "generateContent": "gemini",
    "streamGenerateContent": "gemini",
    "embedContent": "gemini_embed",
    "batchEmbedContents": "gemini_batch_embed",
}
COUNT = "countTokens"


def gemini_key(scope: Scope) -> bytes | None:
    """The key of `x-goog-api-key`, else of the `key` query parameter."""
    key = header(scope, b"x-goog-api-key")
    if key is None and b"key=" in scope["query_string"]:
        values = parse_qs(scope["query_string"].decode("latin-1")).get("key")
        key = values[0].encode("latin-1") if values else None
    return key


def authenticate(state: GatewayState, scope: Scope) -> Identity:
    """The caller, with a Gemini-style key taken as the gateway key (`x-api-key`)."""
    key = gemini_key(scope)
    if key is not None:
        scope = {**scope, "headers": [(b"x-api-key", key), *scope["headers"]]}
    return state.auth.authenticate(scope)


def streams_sse(scope: Scope) -> bool:
    query = parse_qs(scope["query_string"].decode("latin-1"))
    return query.get("alt", [""])[0] == "sse"


class GeminiEndpoint:
    """An ASGI app (not a Starlette endpoint) so it sees `http.disconnect` directly."""

    def __init__(self, state: GatewayState) -> None:
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        meter = Meter()  # started now: TTFT and overhead count from the request's arrival
        state = self.state
        try:
            name, _, method = scope["path_params"]["target"].rpartition(":")
            if not name or (method not in ROUTES and method != COUNT):
                raise NotFound(f"no Gemini method {method or '(none)'!r} for {name or 'a model'}")
            identity = authenticate(state, scope)
            raw = await read_body(scope, receive, state.settings.max_body_bytes)
            body = parse_json_object(raw)
            if method == COUNT:
                await send_response(send, 200, await self._count(scope, name, body))
                return
            stream = method == "streamGenerateContent"
            if stream and not streams_sse(scope):
                raise BadRequest("streamGenerateContent is served as SSE only: add ?alt=sse",
                                 param="alt")  # fmt: skip
            route = ROUTES[method]
            body["model"] = name
            if state.batch.should_defer(identity, scope):
                await state.batch.accept(scope, send, identity, route, "gemini", body)
                return
            call_id = request_id(scope)
            plan = state.router.plan(name, builder("gemini", route, body, call_id, stream=stream))
            call = plan.live_call(call_id, identity, route, body, stream=stream, meter=meter,
                                  body_bytes=len(raw))
            await state.limits.admit(call, plan.served)
        except GatewayError as err:
            await send_error(send, err, shapes.GEMINI)
            return
        await state.proxy.handle(receive, send, call, plan, shapes.GEMINI)

    async def _count(self, scope: Scope, name: str, body: dict[str, Any]) -> bytes:
        """`{"totalTokens": N}`: the provider's own count for a Gemini-kind model, else the
        gateway's tokenizer (not a generation: no ledger row)."""
        model, provider = self.state.resolve(name)
        if provider.kind == "gemini":
            request = provider.build_count_request(body, model, call_id=request_id(scope))
            return await relay_count(self.state, provider, request)
        inner = body.get("generateContentRequest")
        counted = inner if isinstance(inner, dict) else body
        count = await tokens.off_loop(prompt_tokens, counted, model.upstream_name)
        return orjson.dumps({"totalTokens": count})


def routes(state: GatewayState) -> list[StarletteRoute]:
    endpoint = GeminiEndpoint(state)
    return [
        StarletteRoute(f"/{version}/models/{{target:path}}", endpoint, methods=["POST"])
        for version in ("v1beta", "v1")
    ]
