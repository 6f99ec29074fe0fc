"""Gemini embeddings: `:embedContent` (one content) and `:batchEmbedContents` (many), with the
same deterministic vectors as `/v1/embeddings`."""

from __future__ import annotations

from typing import Any

import orjson

from gateway.content import texts
from gateway.sim.call import Call, JsonAnswer, build_call
from gateway.sim.directive import plan_for
from gateway.sim.embeddings import DEFAULT_DIMENSIONS, IMMEDIATE, embed
from gateway.sim.exchange import Exchange
from gateway.sim.gemini import GeminiDialect, model_and_method
from gateway.sim.generation import BadRequest
from gateway.sim.state import SimState


def _text(content: Any, where: str) -> str:
    if not isinstance(content, dict) or not isinstance(content.get("parts"), list):
        raise BadRequest(f"{where}: a content with parts is required")
    return " ".join(texts(content["parts"]))


def _dimensions(request: dict[str, Any]) -> int:
    value = request.get("outputDimensionality") or request.get("output_dimensionality")
    return value if isinstance(value, int) and value > 0 else DEFAULT_DIMENSIONS


class GeminiEmbedDialect:
    """One `content` (`embedContent`) or `requests[].content` (`batchEmbedContents`)."""

    api = "gemini"
    api_key = GeminiDialect.api_key

    def read(self, state: SimState, ex: Exchange, body: dict[str, Any], call_id: int) -> Call:
        model, method = model_and_method(ex.scope["path"])
        if method == "batchEmbedContents":
            requests = body.get("requests")
            if not isinstance(requests, list) or not requests:
                raise BadRequest("requests must be a non-empty list")
            items = [
                (_text(r.get("content"), f"requests[{i}].content"), _dimensions(r))
                for i, r in enumerate(requests)
                if isinstance(r, dict)
            ]
        else:
            items = [(_text(body.get("content"), "content"), _dimensions(body))]
        words = sum(len(text.split()) for text, _ in items)
        call = build_call(state, call_id, model, False, words, plan_for(IMMEDIATE, items[-1][0]), 0)
        call.payload = (method == "batchEmbedContents", items)
        return call

    def answer(self, state: SimState, call: Call) -> JsonAnswer:
        batch, items = call.payload
        vectors = [{"values": embed(text, dimensions)} for text, dimensions in items]
        body = {"embeddings": vectors} if batch else {"embedding": vectors[0]}
        return JsonAnswer(orjson.dumps(body))
