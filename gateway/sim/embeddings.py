"""`POST /v1/embeddings`: deterministic unit vectors derived from a hash of each input."""

from __future__ import annotations

import base64
import hashlib
import math
import struct
from typing import Any

import orjson

from gateway.sim import openai_common as oc
from gateway.sim.call import Call, JsonAnswer, build_call
from gateway.sim.directive import Plan, plan_for
from gateway.sim.exchange import Exchange
from gateway.sim.generation import BadRequest
from gateway.sim.state import SimState

DEFAULT_DIMENSIONS = 16
MAX_DIMENSIONS = 65536  # no embedding model has more; a bigger ask is refused, not computed
IMMEDIATE = Plan(ttft=0.0, tps=0.0, tokens=0)


def embed(item: str | list[int], dimensions: int) -> list[float]:
    """A unit vector determined by `item` alone."""
    key = item.encode() if isinstance(item, str) else orjson.dumps(item)
    raw = hashlib.shake_256(key).digest(2 * dimensions)
    values = [v - 32767.5 for v in struct.unpack(f"<{dimensions}H", raw)]
    norm = math.sqrt(sum(v * v for v in values)) or 1.0
    return [v / norm for v in values]


def to_base64(vector: list[float]) -> str:
    """`vector` as base64 of little-endian float32, as the API's `base64` format."""
    return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()


def inputs_of(value: Any) -> list[str | list[int]]:
    """The list of inputs: a string, strings, a token array, or token arrays."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and value:
        if all(isinstance(v, int) for v in value):
            return [value]
        if all(isinstance(v, str) or _is_tokens(v) for v in value):
            return value
    raise BadRequest("'input' must be a string, strings, or token arrays")


def _is_tokens(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, int) for v in value)


class EmbeddingsDialect:
    """The OpenAI Embeddings API; answers at once unless a directive sets `ttft_ms`."""

    api = "openai"
    api_key = staticmethod(oc.bearer_key)

    def read(self, state: SimState, ex: Exchange, body: dict[str, Any], call_id: int) -> Call:
        inputs = inputs_of(body.get("input"))
        last = inputs[-1]
        plan = plan_for(IMMEDIATE, last if isinstance(last, str) else "")
        words = sum(len(i.split()) if isinstance(i, str) else len(i) for i in inputs)
        dimensions = body.get("dimensions")
        if isinstance(dimensions, int) and not 0 < dimensions <= MAX_DIMENSIONS:
            raise BadRequest(f"'dimensions' must be between 1 and {MAX_DIMENSIONS}")
        if not isinstance(dimensions, int) or isinstance(dimensions, bool):
            dimensions = DEFAULT_DIMENSIONS
        model = body.get("model")
        model = model if isinstance(model, str) and model else "sim-embed"
        call = build_call(state, call_id, model, False, words, plan, 0)
        call.payload = (inputs, dimensions, body.get("encoding_format") == "base64")
        return call

    def answer(self, state: SimState, call: Call) -> JsonAnswer:
        return JsonAnswer(embeddings_body(call))


def embeddings_body(call: Call) -> bytes:
    """An OpenAI embeddings list for the call's inputs."""
    inputs, dimensions, as_base64 = call.payload
    data = []
    for index, item in enumerate(inputs):
        vector = embed(item, dimensions)
        encoded = to_base64(vector) if as_base64 else vector
        data.append({"object": "embedding", "index": index, "embedding": encoded})
    tokens = call.prompt_tokens
    return orjson.dumps(
        {
            "object": "list",
            "data": data,
            "model": call.model,
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        }
    )
