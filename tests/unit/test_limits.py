"""BodyLimits with scripted ASGI `receive`/`send`: 413 before reading, counted chunks, the
body read timeout (and none after the body), NUL in path or query, the limit of each route."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest

from gateway.api.anthropic import MessagesEndpoint
from gateway.api.limits import PROXY_PATHS, SMALL_BODY_BYTES, BodyLimits
from gateway.api.openai import OpenAIEndpoint
from gateway.app import create_app
from gateway.config import build_settings
from gateway.errors import PayloadTooLarge, RequestTimeout
from gateway.ledger import NullLedger
from tests.servers import gateway_config

SETTINGS = build_settings(
    gateway_config("http://127.0.0.1:9", client_body_timeout="50ms", batch_file_max_bytes=4096),
    {},
)


def scope(path: str, *headers: tuple[bytes, bytes], query: bytes = b"") -> dict[str, Any]:
    return {"type": "http", "method": "POST", "path": path, "query_string": query,
            "headers": list(headers)}


class Recorder:
    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []

    async def __call__(self, message: dict[str, Any]) -> None:
        self.messages.append(message)

    @property
    def status(self) -> int:
        return self.messages[0]["status"]

    def json(self) -> Any:
        return orjson.loads(b"".join(m.get("body", b"") for m in self.messages[1:]))


def chunks(*pieces: bytes, then_wait: bool = False):
    queue = [{"type": "http.request", "body": p, "more_body": i < len(pieces) - 1 or then_wait}
             for i, p in enumerate(pieces)]

    async def receive() -> dict[str, Any]:
        if queue:
            return queue.pop(0)
        await asyncio.Event().wait()  # the client sends nothing more
        raise AssertionError("unreachable")

    return receive


async def never_read(scope: Any, receive: Any, send: Any) -> None:
    raise AssertionError("the app must not run")


async def read_all(scope: Any, receive: Any, send: Any) -> None:
    while (await receive()).get("more_body"):
        pass
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b""})


async def test_declared_length_over_the_limit_is_413_without_reading() -> None:
    async def receive() -> dict[str, Any]:
        raise AssertionError("the body must not be read")

    send = Recorder()
    declared = (b"content-length", str(SMALL_BODY_BYTES + 1).encode())
    await BodyLimits(never_read, SETTINGS)(scope("/v1/gateway/keys", declared), receive, send)
    assert send.status == 413
    assert send.json()["error"]["code"] == "request_too_large"
    assert (b"connection", b"close") in send.messages[0]["headers"]


async def test_declared_length_on_messages_is_refused_in_anthropic_shape() -> None:
    send = Recorder()
    declared = (b"content-length", str(SETTINGS.max_body_bytes + 1).encode())
    await BodyLimits(never_read, SETTINGS)(scope("/v1/messages", declared), chunks(), send)
    assert send.status == 413
    assert send.json()["error"]["type"] == "request_too_large"


async def test_undeclared_body_is_counted_and_refused_at_the_limit() -> None:
    piece = b"x" * 16384
    with pytest.raises(PayloadTooLarge):
        await BodyLimits(read_all, SETTINGS)(scope("/v1/batches"), chunks(*[piece] * 5), Recorder())
    send = Recorder()
    await BodyLimits(read_all, SETTINGS)(scope("/v1/batches"), chunks(*[piece] * 3), send)
    assert send.status == 200


async def test_the_file_route_allows_the_file_limit_and_names_it() -> None:
    piece = b"x" * (SMALL_BODY_BYTES + 1024)  # over the small limit, under file + form
    send = Recorder()
    await BodyLimits(read_all, SETTINGS)(scope("/v1/files"), chunks(piece), send)
    assert send.status == 200
    with pytest.raises(PayloadTooLarge) as info:
        await BodyLimits(read_all, SETTINGS)(scope("/v1/files"), chunks(piece, piece), Recorder())
    assert info.value.code == "file_too_large" and info.value.param == "file"
    assert "batch_file_max_bytes" in info.value.message


async def test_a_body_that_stops_arriving_times_out() -> None:
    with pytest.raises(RequestTimeout) as info:
        await BodyLimits(read_all, SETTINGS)(scope("/v1/chat/completions"),
                                             chunks(b"{", then_wait=True), Recorder())
    assert info.value.status == 408 and "client_body_timeout" in info.value.message


async def test_receive_is_not_timed_after_the_body_is_complete() -> None:
    """The disconnect watcher waits on `receive` for the whole call."""
    gone = asyncio.Event()
    pieces = [{"type": "http.request", "body": b"{}", "more_body": False}]

    async def receive() -> dict[str, Any]:
        if pieces:
            return pieces.pop()
        await gone.wait()
        return {"type": "http.disconnect"}

    async def watching(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        asyncio.get_running_loop().call_later(0.2, gone.set)  # 4x the body timeout
        assert (await receive())["type"] == "http.disconnect"

    await BodyLimits(watching, SETTINGS)(scope("/v1/chat/completions"), receive, Recorder())


@pytest.mark.parametrize(("path", "query", "where"), [
    ("/v1/gateway/requests/a\x00b", b"", "path"),
    ("/v1/gateway/requests", b"workload=a%00b", "query"),
])
async def test_nul_in_path_or_query_is_400(path: str, query: bytes, where: str) -> None:
    send = Recorder()
    await BodyLimits(never_read, SETTINGS)(scope(path, query=query), chunks(), send)
    assert send.status == 400
    assert send.json()["error"]["param"] == where


def test_every_proxied_route_gets_the_proxy_limit() -> None:
    """A new raw proxy endpoint must be listed, or it would get the small limit."""
    app = create_app(SETTINGS, NullLedger())
    proxied = {route.path for route in app.router.routes
               if isinstance(getattr(route, "app", None), OpenAIEndpoint | MessagesEndpoint)}
    assert proxied and proxied <= PROXY_PATHS
    limits = BodyLimits(never_read, SETTINGS)
    assert {limits.limit_for(path).bytes for path in proxied} == {SETTINGS.max_body_bytes}
    assert limits.limit_for("/sim/v1/chat/completions").bytes == SETTINGS.max_body_bytes
    assert limits.limit_for("/v1/files").bytes > SETTINGS.batch_file_max_bytes
    for path in ("/v1/batches", "/v1/gateway/keys", "/v1/files/x", "/metrics"):
        assert limits.limit_for(path).bytes == SMALL_BODY_BYTES
