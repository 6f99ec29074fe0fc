"""The app called directly with scripted ASGI `receive`/`send`: disconnects and send failures."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import orjson

from gateway.sim import SimOptions, create_sim_app

FAST = SimOptions(ttft_ms=0, tokens_per_second=100)


def scope(path: str, method: str = "POST", query: bytes = b"") -> dict[str, Any]:
    return {
        "type": "http",
        "method": method,
        "path": path,
        "query_string": query,
        "headers": [(b"content-type", b"application/json"), (b"x-request-id", b"req-7")],
    }


class Client:
    """Feeds one body, then reports a disconnect once `leave` is set (or `leave_after` chunks)."""

    def __init__(self, body: dict[str, Any], leave_after: int | None = None) -> None:
        self.body = orjson.dumps(body)
        self.leave_after = leave_after
        self.leave = asyncio.Event()
        self.sent: list[dict[str, Any]] = []
        self.left_at: float | None = None
        self._body_given = False

    async def receive(self) -> dict[str, Any]:
        if not self._body_given:
            self._body_given = True
            return {"type": "http.request", "body": self.body, "more_body": False}
        await self.leave.wait()
        return {"type": "http.disconnect"}

    async def send(self, message: dict[str, Any]) -> None:
        self.sent.append(message)
        if self.leave_after is not None and len(self.chunks()) == self.leave_after:
            self.left_at = time.time()
            self.leave.set()

    def chunks(self) -> list[bytes]:
        return [m["body"] for m in self.sent if m["type"] == "http.response.body"]


async def stats(app: Any) -> list[dict[str, Any]]:
    client = Client({})
    await app(scope("/_sim/stats", "GET"), client.receive, client.send)
    return orjson.loads(client.chunks()[0])["requests"]


def stream_body(tokens: int) -> dict[str, Any]:
    text = f"[sim tokens={tokens}]"
    return {"model": "m", "stream": True, "messages": [{"role": "user", "content": text}]}


async def test_disconnect_stops_the_stream_at_once() -> None:
    app = create_sim_app(FAST)
    client = Client(stream_body(100), leave_after=3)
    await asyncio.wait_for(app(scope("/v1/chat/completions"), client.receive, client.send), 1)
    assert client.left_at is not None
    count = len(client.chunks())
    assert count == 3
    assert all(m.get("more_body") for m in client.sent[1:])
    (record,) = await stats(app)
    assert record["request_id"] == "req-7"
    assert record["completed"] is False
    assert 0 <= record["closed_at"] - client.left_at < 0.05
    assert record["tokens_sent"] == count


async def test_each_chunk_is_one_body_message_and_the_last_ends_the_stream() -> None:
    app = create_sim_app(SimOptions(ttft_ms=0, tokens_per_second=0))
    client = Client(stream_body(4))
    await app(scope("/v1/chat/completions"), client.receive, client.send)
    start, *bodies = client.sent
    assert start["type"] == "http.response.start"
    assert (b"content-type", b"text/event-stream") in start["headers"]
    assert [m.get("more_body", False) for m in bodies] == [True] * (len(bodies) - 1) + [False]
    assert all(body.count(b"\n\n") == 1 for body in client.chunks()[1:])
    assert client.chunks()[-1] == b"data: [DONE]\n\n"


async def test_send_failure_counts_as_close() -> None:
    app = create_sim_app(FAST)
    client = Client(stream_body(100))
    original_send = client.send

    async def failing_send(message: dict[str, Any]) -> None:
        if len(client.sent) >= 3:
            raise OSError("connection reset")
        await original_send(message)

    await asyncio.wait_for(app(scope("/v1/chat/completions"), client.receive, failing_send), 2)
    (record,) = await stats(app)
    assert record["closed_at"] is not None
    assert record["completed"] is False
    assert record["tokens_sent"] == 2


async def test_non_stream_disconnect_during_generation() -> None:
    app = create_sim_app(SimOptions(ttft_ms=1000))
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
    client = Client(body)
    task = asyncio.create_task(app(scope("/v1/chat/completions"), client.receive, client.send))
    await asyncio.sleep(0.05)
    client.leave.set()
    await asyncio.wait_for(task, 0.5)
    assert client.sent == []
    (record,) = await stats(app)
    assert record["closed_at"] is not None
    assert record["tokens_sent"] == 0


async def test_reset_clears_records_and_tag_filters() -> None:
    app = create_sim_app(SimOptions(ttft_ms=0, tokens_per_second=0))
    for tag in ("a", "b", "a"):
        body = {"model": "m", "messages": [{"role": "user", "content": f"[sim tag={tag}]"}]}
        client = Client(body)
        await app(scope("/v1/chat/completions"), client.receive, client.send)
    client = Client({})
    await app(scope("/_sim/stats", "GET", b"tag=a"), client.receive, client.send)
    tagged = orjson.loads(client.chunks()[0])["requests"]
    assert [r["tag"] for r in tagged] == ["a", "a"]
    assert tagged[0]["id"] < tagged[1]["id"]
    await app(scope("/_sim/reset"), Client({}).receive, Client({}).send)
    assert await stats(app) == []


async def test_lifespan_completes() -> None:
    app = create_sim_app(SimOptions())
    messages = iter([{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}])
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return next(messages)

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app({"type": "lifespan"}, receive, send)
    assert [m["type"] for m in sent] == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
