"""The lean HTTP/1.1 client (`gateway.http1`) against loopback servers of the test's own: the
answer framings, keep-alive reuse and retirement, the pool's limit, timeouts, flow control,
and the bytes it refuses to send or read."""

from __future__ import annotations

import asyncio
import ssl
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from gateway.http1 import ConnectError, ResponseError, request_head, split_url
from gateway.http1_pool import Pool, PoolTimeout

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
OK = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}"


class Server:
    def __init__(self) -> None:
        self.connections = 0
        self.heads: list[bytes] = []
        self.server: asyncio.Server | None = None

    async def start(self, handler: Handler) -> None:
        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            self.connections += 1
            try:
                await handler(reader, writer)
            except (asyncio.IncompleteReadError, ConnectionError):
                pass
            finally:
                writer.close()

        self.server = await asyncio.start_server(serve, "127.0.0.1", 0)

    @property
    def port(self) -> int:
        assert self.server is not None
        return self.server.sockets[0].getsockname()[1]

    async def read(self, reader: asyncio.StreamReader) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        self.heads.append(head)
        length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                       if line.lower().startswith(b"content-length")), 0)
        await reader.readexactly(length)

    def pool(self, **overrides: float) -> Pool:
        origin, _ = split_url(f"http://127.0.0.1:{self.port}/v1/x")
        options = dict(limit=2, connect_timeout=2.0, pool_timeout=2.0, read_timeout=2.0,
                       keepalive=4.0)
        options.update(overrides)
        return Pool(origin, **options)  # type: ignore[arg-type]


@pytest.fixture
async def server() -> AsyncIterator[Server]:
    made = Server()
    yield made
    if made.server is not None:
        made.server.close()
        await made.server.wait_closed()


async def post(pool: Pool, body: bytes = b"{}") -> tuple[int, bytes]:
    response = await pool.post(b"/v1/x", {"content-type": "application/json"}, body)
    return response.status, await response.take()


def answering(*answers: bytes, keep_open: bool = True) -> Callable[[Server], Handler]:
    def make(server: Server) -> Handler:
        async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            for answer in answers:
                await server.read(reader)
                writer.write(answer)
                await writer.drain()
            if keep_open:
                await reader.read()  # until the client closes
        return handler
    return make


async def test_the_request_head_names_the_host_and_the_body_length() -> None:
    origin, target = split_url("https://api.example.com/v1/chat/completions?x=1")
    assert (origin.host, origin.port, origin.tls, target) == (
        "api.example.com", 443, True, b"/v1/chat/completions?x=1")
    head = request_head(origin, target, {"authorization": "Bearer k"}, 12)
    assert head == (b"POST /v1/chat/completions?x=1 HTTP/1.1\r\nhost: api.example.com\r\n"
                    b"authorization: Bearer k\r\ncontent-length: 12\r\n\r\n")
    local, _ = split_url("http://127.0.0.1:8000/v1")
    assert local.host_header == "127.0.0.1:8000"


async def test_a_header_with_a_line_break_is_never_sent() -> None:
    origin, target = split_url("http://127.0.0.1:9/v1")
    with pytest.raises(ValueError, match="line break"):
        request_head(origin, target, {"x-a": "1\r\nx-injected: 2"}, 0)


@pytest.mark.parametrize("answer", [
    OK,
    b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n1\r\n{\r\n1\r\n}\r\n0\r\n\r\n",
    b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}",
], ids=["content-length", "chunked", "interim-100"])
async def test_framed_answers_are_read_whole_and_the_connection_reused(
    server: Server, answer: bytes
) -> None:
    await server.start(answering(answer, answer)(server))
    pool = server.pool()
    try:
        assert await post(pool) == (200, b"{}")
        assert await post(pool) == (200, b"{}")
    finally:
        await pool.close()
    assert server.connections == 1


async def test_a_close_delimited_answer_ends_with_the_connection(server: Server) -> None:
    await server.start(answering(b"HTTP/1.1 200 OK\r\n\r\n{\"a\":1}", keep_open=False)(server))
    pool = server.pool()
    try:
        assert await post(pool) == (200, b'{"a":1}')
        assert pool.open == 0  # not kept: its end was the close
    finally:
        await pool.close()


async def test_connection_close_is_honoured(server: Server) -> None:
    answer = b"HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 2\r\n\r\n{}"
    await server.start(answering(answer, keep_open=False)(server))
    pool = server.pool()
    try:
        assert await post(pool) == (200, b"{}")
        assert await post(pool) == (200, b"{}")
    finally:
        await pool.close()
    assert server.connections == 2


async def test_an_idle_connection_is_retired_after_keepalive(server: Server) -> None:
    await server.start(answering(OK)(server))
    pool = server.pool(keepalive=0.05)
    try:
        assert await post(pool) == (200, b"{}")
        await asyncio.sleep(0.1)
        assert await post(pool) == (200, b"{}")
    finally:
        await pool.close()
    assert server.connections == 2


async def test_a_body_cut_short_is_an_error_and_the_connection_dropped(server: Server) -> None:
    truncated = b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\n{\"a\""
    await server.start(answering(truncated, keep_open=False)(server))
    pool = server.pool()
    try:
        with pytest.raises(ResponseError, match="closed the connection"):
            await post(pool)
        assert pool.open == 0
    finally:
        await pool.close()


async def test_bytes_that_are_not_http_are_an_error(server: Server) -> None:
    await server.start(answering(b"SSH-2.0-OpenSSH_9.6\r\n")(server))
    pool = server.pool()
    try:
        with pytest.raises(ResponseError, match="not HTTP"):
            await post(pool)
        assert pool.open == 0
    finally:
        await pool.close()


async def test_a_silent_server_times_out_after_read_timeout(server: Server) -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await server.read(reader)
        await reader.read()

    await server.start(silent)
    pool = server.pool(read_timeout=0.2)
    try:
        with pytest.raises(TimeoutError, match="read_timeout"):
            await post(pool)
        assert pool.open == 0
    finally:
        await pool.close()


async def test_a_slow_but_steady_stream_does_not_time_out(server: Server) -> None:
    async def trickle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await server.read(reader)
        writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")
        for _ in range(6):  # 0.3 s in all, a byte every 0.05 s, read_timeout 0.15 s
            await asyncio.sleep(0.05)
            writer.write(b"1\r\nx\r\n")
            await writer.drain()
        writer.write(b"0\r\n\r\n")
        await reader.read()

    await server.start(trickle)
    pool = server.pool(read_timeout=0.15)
    try:
        response = await pool.post(b"/v1/x", {}, b"")
        assert [chunk async for chunk in response.content.iter_any()] == [b"x"] * 6
        response.release()
    finally:
        await pool.close()


async def test_unreachable_is_a_connect_error() -> None:
    from tests.servers import free_port

    origin, _ = split_url(f"http://127.0.0.1:{free_port()}/v1")
    pool = Pool(origin, limit=1, connect_timeout=1, pool_timeout=1, read_timeout=1, keepalive=1)
    try:
        with pytest.raises(ConnectError):
            await pool.post(b"/v1", {}, b"")
        assert pool.open == 0
    finally:
        await pool.close()


async def test_the_limit_holds_and_a_freed_connection_goes_to_the_waiting_call(
    server: Server,
) -> None:
    release = asyncio.Event()

    async def held(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            await server.read(reader)
            await release.wait()
            writer.write(OK)
            await writer.drain()

    await server.start(held)
    pool = server.pool(limit=1, pool_timeout=5.0)
    try:
        first = asyncio.create_task(post(pool))
        second = asyncio.create_task(post(pool))
        await asyncio.sleep(0.1)
        assert pool.open == 1 and len(server.heads) == 1  # the second waits for the first
        release.set()
        assert await first == (200, b"{}") and await second == (200, b"{}")
    finally:
        release.set()
        await pool.close()
    assert server.connections == 1


async def test_a_full_pool_refuses_after_pool_timeout(server: Server) -> None:
    async def never(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await server.read(reader)
        await reader.read()

    await server.start(never)
    pool = server.pool(limit=1, pool_timeout=0.1, read_timeout=5.0)
    holder = asyncio.create_task(post(pool))
    try:
        await asyncio.sleep(0.05)
        with pytest.raises(PoolTimeout):
            await post(pool)
    finally:
        holder.cancel()
        await asyncio.gather(holder, return_exceptions=True)
        await pool.close()
    assert pool.open == 0  # the cancelled call dropped its connection


async def test_an_unread_stream_pauses_the_socket_and_resumes_as_it_is_read(
    server: Server,
) -> None:
    chunk = b"x" * 65536
    sent = asyncio.Event()

    async def flood(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await server.read(reader)
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n" % (len(chunk) * 64))
        for _ in range(64):  # 4 MiB, far above what the client buffers
            writer.write(chunk)
            await writer.drain()
        sent.set()
        await reader.read()

    await server.start(flood)
    pool = server.pool()
    try:
        response = await pool.post(b"/v1/x", {}, b"")
        await asyncio.sleep(0.3)
        assert not sent.is_set()  # the client stopped reading: the server is held back
        assert response._buffered <= 2 * 1024 * 1024
        total = 0
        while piece := await response.readany():
            total += len(piece)
        assert total == len(chunk) * 64 and sent.is_set()
        response.release()
    finally:
        await pool.close()


@pytest.fixture
def self_signed(tmp_path: Path) -> tuple[Path, Path]:
    """(certificate, key) of a self-signed server."""
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True, timeout=30)
    return cert, key


async def test_an_untrusted_certificate_is_refused(self_signed: tuple[Path, Path]) -> None:
    """https goes through TLS with the system's trust store: a self-signed server is not
    spoken to (fail closed)."""
    cert, key = self_signed
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    reached: list[bytes] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        reached.append(await reader.read(100))
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0, ssl=context)
    port = server.sockets[0].getsockname()[1]
    origin, _ = split_url(f"https://127.0.0.1:{port}/v1")
    pool = Pool(origin, limit=1, connect_timeout=5, pool_timeout=1, read_timeout=1, keepalive=1)
    try:
        with pytest.raises(ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            await pool.post(b"/v1", {}, b"{}")
        assert pool.open == 0
    finally:
        await pool.close()
        server.close()
        await server.wait_closed()
    assert not any(reached)  # no request bytes reached the untrusted server


async def test_a_whole_body_far_above_the_high_water_mark_is_read(server: Server) -> None:
    """`read()` wants all of it: reading from the socket must not pause (it hung)."""
    body = b"x" * (1024 * 1024)

    async def big(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await server.read(reader)
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n" % len(body))
        for start in range(0, len(body), 16384):
            writer.write(body[start:start + 16384])
            await writer.drain()
        await reader.read()

    await server.start(big)
    pool = server.pool()
    try:
        assert await asyncio.wait_for(post(pool), 5) == (200, body)
    finally:
        await pool.close()


async def test_a_paused_stream_does_not_spin_its_timer(server: Server) -> None:
    """While the reader is behind, the read timeout looks again a read_timeout later, not
    on every turn of the loop."""
    async def flood(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await server.read(reader)
        writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")
        for _ in range(40):  # 640 KiB, above the high-water mark
            writer.write(b"4000\r\n" + b"x" * 16384 + b"\r\n")
            await writer.drain()
        writer.write(b"0\r\n\r\n")
        await reader.read()

    await server.start(flood)
    pool = server.pool(read_timeout=0.1)
    try:
        response = await pool.post(b"/v1/x", {}, b"")
        connection = response._connection
        assert connection is not None
        checks = 0
        check = connection._check

        def counted() -> None:
            nonlocal checks
            checks += 1
            check()

        connection._check = counted  # type: ignore[method-assign]
        await asyncio.sleep(0.6)  # not reading: paused
        assert connection.paused
        assert checks <= 10  # ~6 at one look per read_timeout; it spun thousands
        while await response.readany():
            pass
        response.release()
    finally:
        await pool.close()


async def test_a_turn_given_to_a_caller_that_left_goes_to_the_next(server: Server) -> None:
    await server.start(answering(OK, OK, OK)(server))
    pool = server.pool(limit=1, pool_timeout=10.0)
    held = await pool.post(b"/v1/x", {}, b"{}")  # the only connection
    second = asyncio.create_task(post(pool))
    await asyncio.sleep(0.05)
    third = asyncio.create_task(post(pool))
    try:
        await asyncio.sleep(0.05)
        await held.read()
        held.release()  # the turn is the second's ...
        second.cancel()  # ... which leaves in the same instant
        assert await asyncio.wait_for(third, 2) == (200, b"{}")  # not after pool_timeout
    finally:
        for task in (second, third):
            task.cancel()
        await asyncio.gather(second, third, return_exceptions=True)
        await pool.close()


async def test_a_close_delimited_body_cut_by_a_reset_is_an_error(server: Server) -> None:
    import socket
    import struct

    async def cut(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await server.read(reader)
        writer.write(b'HTTP/1.1 200 OK\r\n\r\n{"choices": [{"mess')
        await writer.drain()
        await asyncio.sleep(0.05)
        sock = writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.transport.abort()

    await server.start(cut)
    pool = server.pool()
    try:
        with pytest.raises(ResponseError):
            await post(pool)
    finally:
        await pool.close()
