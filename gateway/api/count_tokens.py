"""`POST /v1/messages/count_tokens`: Anthropic's `{"input_tokens": N}` for any model.

An Anthropic-kind model's count comes from the provider's own `count_tokens` (relayed, with the
client's `anthropic-version`/`-beta`); any other model's is counted by the gateway's tokenizer,
the way the ledger counts prompts. Not a generation: no ledger row. Errors in Anthropic's shape.
"""

from __future__ import annotations

import orjson
from starlette.routing import Route as StarletteRoute
from starlette.types import Receive, Scope, Send

from gateway import tokens
from gateway.api import shapes
from gateway.api.anthropic import forwarded_headers
from gateway.api.asgi import read_body, send_response
from gateway.api.request_id import request_id
from gateway.api.validation import parse_json_object, validate_anthropic
from gateway.errors import GatewayError
from gateway.ledger.prompts import prompt_tokens
from gateway.providers.base import Provider, UpstreamRequest
from gateway.providers.errors import error_from_response, upstream_failures
from gateway.proxy import send_error
from gateway.state import GatewayState


async def relay_count(state: GatewayState, provider: Provider, request: UpstreamRequest) -> bytes:
    """A vendor's own token count, its body passed on as it is (errors mapped as for calls)."""
    with upstream_failures(provider):
        status, headers, payload = await state.pool.fetch(provider, request)
    if status >= 400:
        raise error_from_response(provider, status, payload, headers)
    return payload


class CountTokensEndpoint:
    def __init__(self, state: GatewayState) -> None:
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        state = self.state
        try:
            state.auth.authenticate(scope)
            body = parse_json_object(await read_body(scope, receive, state.settings.max_body_bytes))
            validate_anthropic({"max_tokens": 1, **body})  # a Messages body minus max_tokens
            model, provider = state.resolve(body["model"])
            if provider.kind == "anthropic":
                request = provider.build_count_request(
                    body, model, call_id=request_id(scope), client_headers=forwarded_headers(scope)
                )
                payload = await relay_count(state, provider, request)
            else:
                count = await tokens.off_loop(prompt_tokens, body, model.upstream_name)
                payload = orjson.dumps({"input_tokens": count})
        except GatewayError as err:
            await send_error(send, err, shapes.ANTHROPIC)
            return
        await send_response(send, 200, payload)


def routes(state: GatewayState) -> list[StarletteRoute]:
    return [
        StarletteRoute("/v1/messages/count_tokens", CountTokensEndpoint(state), methods=["POST"])
    ]
