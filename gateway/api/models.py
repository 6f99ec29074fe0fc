"""`GET /v1/models` and `GET /v1/models/{id}`: the configured models, in OpenAI's shape, or in
Anthropic's when the request carries `anthropic-version` (the anthropic SDK's `models.list` and
`models.retrieve` use the same paths). A model id may contain `/`."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs

import orjson
from starlette.routing import Route as StarletteRoute
from starlette.types import Receive, Scope, Send

from gateway.api import shapes
from gateway.api.admin.deps import parse_limit
from gateway.api.asgi import header, send_response
from gateway.config import ModelConfig
from gateway.errors import GatewayError, ModelNotFound, NotFound
from gateway.proxy import send_error
from gateway.state import GatewayState


class _Models:
    def __init__(self, state: GatewayState) -> None:
        self.state = state
        self.created = int(time.time())
        self.created_at = datetime.fromtimestamp(self.created, UTC).isoformat()

    def openai(self, model: ModelConfig) -> dict[str, Any]:
        return {"id": model.name, "object": "model", "created": self.created,
                "owned_by": model.provider}  # fmt: skip

    def anthropic(self, model: ModelConfig) -> dict[str, Any]:
        return {"type": "model", "id": model.name, "display_name": model.name,
                "created_at": self.created_at.replace("+00:00", "Z")}  # fmt: skip

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        anthropic = header(scope, b"anthropic-version") is not None
        shape = shapes.ANTHROPIC if anthropic else shapes.OPENAI
        try:
            self.state.auth.authenticate(scope)
            body = self.answer(scope, anthropic)
        except GatewayError as err:
            await send_error(send, err, shape)
            return
        await send_response(send, 200, orjson.dumps(body))

    def answer(self, scope: Scope, anthropic: bool) -> dict[str, Any]:
        raise NotImplementedError


class ModelsEndpoint(_Models):
    """The list: OpenAI's `{"object": "list", "data"}`, or Anthropic's page."""

    def answer(self, scope: Scope, anthropic: bool) -> dict[str, Any]:
        models = list(self.state.models.values())
        if not anthropic:
            return {"object": "list", "data": [self.openai(m) for m in models]}
        query = parse_qs(scope["query_string"].decode("latin-1"))
        limit = parse_limit(query.get("limit", [None])[0], default=20, maximum=1000)
        names = [m.name for m in models]
        after, before = query.get("after_id", [None])[0], query.get("before_id", [None])[0]
        start, stop = 0, len(models)
        if after in names:
            start = names.index(after) + 1
        if before in names:
            stop = names.index(before)
            start = max(start, stop - limit)
        page = models[start:stop][:limit]
        data = [self.anthropic(m) for m in page]
        return {
            "data": data,
            "has_more": start + len(page) < stop,
            "first_id": data[0]["id"] if data else None,
            "last_id": data[-1]["id"] if data else None,
        }


class ModelEndpoint(_Models):
    """One configured model; an unknown id is a 404 (`model_not_found` for OpenAI)."""

    def answer(self, scope: Scope, anthropic: bool) -> dict[str, Any]:
        name = scope["path_params"]["model_id"]
        model = self.state.models.get(name)
        if model is None:
            message = f"The model `{name}` does not exist or you do not have access to it."
            raise (NotFound if anthropic else ModelNotFound)(message, param="model")
        return self.anthropic(model) if anthropic else self.openai(model)


def routes(state: GatewayState) -> list[StarletteRoute]:
    return [
        StarletteRoute("/v1/models", ModelsEndpoint(state), methods=["GET"]),
        StarletteRoute("/v1/models/{model_id:path}", ModelEndpoint(state), methods=["GET"]),
    ]
