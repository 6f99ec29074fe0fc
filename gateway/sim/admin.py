"""The simulator's own routes: stats, batches, reset, health, and the model list."""

from __future__ import annotations

import time
from urllib.parse import parse_qs

import orjson

from gateway.sim.exchange import Exchange
from gateway.sim.state import SimState


def models_body(models: tuple[str, ...]) -> bytes:
    """The `GET /v1/models` response, computed once."""
    created = int(time.time())
    data = [{"id": m, "object": "model", "created": created, "owned_by": "sim"} for m in models]
    return orjson.dumps({"object": "list", "data": data})


async def stats(state: SimState, ex: Exchange) -> None:
    """`GET /_sim/stats[?tag=X]`: request records, newest last."""
    query = parse_qs(ex.scope["query_string"].decode("latin-1"))
    tag = query.get("tag", [None])[0]
    await ex.respond(200, orjson.dumps({"requests": state.stats.query(tag)}))


async def batches(state: SimState, ex: Exchange) -> None:
    """`GET /_sim/batches[?api=openai|anthropic]`: every batch job seen, oldest first."""
    query = parse_qs(ex.scope["query_string"].decode("latin-1"))
    api = query.get("api", [None])[0]
    await ex.respond(200, orjson.dumps({"batches": state.batches.summary(api)}))


async def reset(state: SimState, ex: Exchange) -> None:
    """`POST /_sim/reset`: forget all records, batches and files."""
    await ex.read_body()
    state.stats.reset()
    state.batches.reset()
    await ex.respond(200, b'{"reset":true}')


async def healthz(state: SimState, ex: Exchange) -> None:
    """`GET /healthz`."""
    await ex.respond(200, b'{"status":"ok"}')
