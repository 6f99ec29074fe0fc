"""Gemini embedding calls (`embedContent`, `batchEmbedContents`) for an OpenAI-kind model:
the texts go to `/v1/embeddings`, the vectors come back as Gemini's `embedding(s).values`.

Each content's text parts are joined by a newline into one input. `outputDimensionality` is
OpenAI's `dimensions` (one value for the whole batch); `taskType` and `title` have no OpenAI
equivalent and are refused by name.
"""

from __future__ import annotations

from typing import Any, NoReturn

import orjson

from gateway.errors import BadRequest, UpstreamError
from gateway.providers.base import Provider
from gateway.streaming.meter import Meter
from gateway.translate.refusal import refuse

_ITEM_FIELDS = frozenset({"model", "content", "outputDimensionality"})


def embeddings_body(body: dict[str, Any], batch: bool) -> dict[str, Any]:
    """The OpenAI `/v1/embeddings` body of a Gemini embedding body (model set by the caller)."""
    if batch:
        items = body.get("requests")
        if not isinstance(items, list) or not items:
            raise BadRequest("'requests' must be a non-empty array", param="requests")
        where = [f"requests[{i}]" for i in range(len(items))]
    else:
        items, where = [body], [""]
    inputs: list[str] = []
    sizes: set[Any] = set()
    for item, prefix in zip(items, where, strict=True):
        dot = f"{prefix}." if prefix else ""
        if not isinstance(item, dict):
            raise BadRequest(f"'{prefix}' must be an object", param=prefix)
        for key, value in item.items():
            if key not in _ITEM_FIELDS and value is not None:
                raise refuse(f"{dot}{key}", "openai")
        inputs.append(_text(item.get("content"), f"{dot}content"))
        sizes.add(item.get("outputDimensionality"))
    if len(sizes) > 1:
        raise refuse("requests[].outputDimensionality", "openai", "use one value for the batch")
    out: dict[str, Any] = {"input": inputs}
    size = sizes.pop()
    if size is not None:
        out["dimensions"] = size
    return out


def _text(content: Any, param: str) -> str:
    parts = content.get("parts") if isinstance(content, dict) else None
    if not isinstance(parts, list) or not parts:
        raise BadRequest(f"'{param}.parts' must be a non-empty array", param=param)
    texts = []
    for i, part in enumerate(parts):
        if not isinstance(part, dict) or not isinstance(part.get("text"), str):
            raise refuse(f"{param}.parts[{i}]", "openai", "only text can be embedded")
        texts.append(part["text"])
    return "\n".join(texts)


class GeminiEmbedReply:
    """An OpenAI embeddings list answered as Gemini's `embedding` or `embeddings`."""

    __slots__ = ("provider", "batch")

    def __init__(self, provider: Provider, batch: bool) -> None:
        self.provider = provider
        self.batch = batch

    def whole(self, payload: bytes, meter: Meter) -> bytes:
        try:
            body: Any = orjson.loads(payload)
        except orjson.JSONDecodeError:
            body = None
        data = body.get("data") if isinstance(body, dict) else None
        if not isinstance(data, list) or not all(isinstance(d, dict) for d in data):
            raise UpstreamError(f"provider {self.provider.name!r} sent no embeddings list")
        self.provider.read_response("embeddings", body, meter)
        vectors = [{"values": d.get("embedding")} for d in sorted(data, key=_index)]
        answer = {"embeddings": vectors} if self.batch else {"embedding": vectors[0]}
        return orjson.dumps(answer)

    def stream(self, meter: Meter) -> NoReturn:
        raise BadRequest("embeddings cannot be streamed")


def _index(item: dict[str, Any]) -> int:
    index = item.get("index")
    return index if isinstance(index, int) else 0
