"""A response with a Content-Length goes out in one write, head and body together (uvicorn
writes its head on its own as soon as the response starts); a stream's head goes out at once,
before its first chunk; a response without a body still sends its head."""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.config import Config
from uvicorn.server import ServerState

from gateway.api.protocol import HeadBoundedProtocol, HeadLimits

REQUEST = b"%s /x HTTP/1.1\r\nhost: t\r\ncontent-length: 0\r\n\r\n"


class Recorder(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:  # type: ignore[override]
        self.writes.append(bytes(data))

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 1), "sockname": ("127.0.0.1", 2)}.get(name, default)

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


async def sized(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json"), (b"content-length", b"2")]})
    await send({"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else b"{}"})


async def streamed(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/event-stream")]})
    started.set()
    await go.wait()
    await send({"type": "http.response.body", "body": b"data: 1\n\n", "more_body": True})
    await send({"type": "http.response.body", "body": b""})


started = asyncio.Event()
go = asyncio.Event()


async def serve(app: Any, method: bytes = b"POST") -> Recorder:
    config = Config(app, http="httptools", lifespan="off", log_level="warning")
    config.load()
    protocol = HeadBoundedProtocol(config=config, server_state=ServerState(),
                                   app_state={}, limits=HeadLimits(65536, 5.0))
    transport = Recorder()
    protocol.connection_made(transport)
    protocol.data_received(REQUEST % method)
    for _ in range(20):
        await asyncio.sleep(0)
    protocol.connection_lost(None)
    return transport


async def test_a_sized_answer_is_one_write() -> None:
    transport = await serve(sized)
    assert len(transport.writes) == 1
    head, body = transport.writes[0].split(b"\r\n\r\n", 1)
    assert head.startswith(b"HTTP/1.1 200 OK") and b"content-length: 2" in head
    assert body == b"{}"


async def test_a_head_request_still_gets_its_head() -> None:
    transport = await serve(sized, b"HEAD")
    assert len(transport.writes) == 1
    assert transport.writes[0].startswith(b"HTTP/1.1 200 OK")
    assert transport.writes[0].endswith(b"\r\n\r\n")


async def test_a_streams_head_is_not_held_for_its_first_chunk() -> None:
    started.clear()
    go.clear()
    config = Config(streamed, http="httptools", lifespan="off", log_level="warning")
    config.load()
    protocol = HeadBoundedProtocol(config=config, server_state=ServerState(),
                                   app_state={}, limits=HeadLimits(65536, 5.0))
    transport = Recorder()
    protocol.connection_made(transport)
    protocol.data_received(REQUEST % b"POST")
    await started.wait()
    await asyncio.sleep(0)
    assert len(transport.writes) == 1 and b"transfer-encoding: chunked" in transport.writes[0]
    go.set()
    for _ in range(20):
        await asyncio.sleep(0)
    assert transport.writes[1:] == [b"9\r\ndata: 1\n\n\r\n", b"0\r\n\r\n"]
    protocol.connection_lost(None)
