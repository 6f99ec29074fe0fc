"""Bounded input on a real gateway process: body limits before auth, header size, slow clients.

Raw sockets, so the test controls exactly what is sent and when; every read has a socket
timeout, so a gateway that holds a connection forever fails the test instead of hanging it.
"""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest

from tests.servers import ServerProcess, gateway_config, start_gateway

HEADER_LIMIT = 16 * 1024
LIMITS = {
    "client_header_timeout": "1s",
    "client_body_timeout": "1s",
    "max_header_bytes": HEADER_LIMIT,
    "batch_file_max_bytes": 2048,
}


@pytest.fixture(scope="module")
def limited(
    tmp_path_factory: pytest.TempPathFactory, sim: ServerProcess
) -> Iterator[ServerProcess]:
    server = start_gateway(tmp_path_factory.mktemp("limits"), gateway_config(sim.url, **LIMITS))
    yield server
    server.stop()


def connect(server: ServerProcess) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    return sock


def read_response(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """Status, headers and the body received until the server closes or the length is met."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "-1"))
    while length < 0 or len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return status, headers, body


def request_head(method: str, path: str, *headers: str) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "host: 127.0.0.1", *headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def test_declared_huge_body_on_keys_is_413_before_auth_and_unread(limited: ServerProcess) -> None:
    """1 GiB declared and nothing sent: the answer comes at once, the body is never awaited."""
    with connect(limited) as sock:
        sock.sendall(request_head("POST", "/v1/gateway/keys", "content-type: application/json",
                                  "content-length: 1073741824"))
        status, headers, body = read_response(sock)
    assert status == 413
    assert orjson.loads(body)["error"]["code"] == "request_too_large"
    assert headers.get("connection") == "close"


def test_declared_huge_body_on_messages_is_413_in_anthropic_shape(limited: ServerProcess) -> None:
    with connect(limited) as sock:
        sock.sendall(request_head("POST", "/v1/messages", "content-length: 1073741824"))
        status, _, body = read_response(sock)
    assert status == 413
    assert orjson.loads(body)["error"]["type"] == "request_too_large"


@pytest.mark.parametrize(("path", "key"), [("/v1/batches", "key-chat"),
                                         ("/v1/gateway/keys", "admin-secret")])
def test_chunked_body_over_the_small_limit_is_413(
    limited: ServerProcess, path: str, key: str
) -> None:
    """/v1/batches had no limit at all; a chunked body is counted as it arrives (FastAPI's
    400 for a failed body read keeps the limit error as its cause: still a 413)."""
    chunk = b"x" * 8192
    with connect(limited) as sock:
        sock.sendall(request_head("POST", path, f"authorization: Bearer {key}",
                                  "content-type: application/json",
                                  "transfer-encoding: chunked"))
        try:
            for _ in range(64):  # 512 KiB, far over the 64 KiB limit of admin-like routes
                sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        except (BrokenPipeError, ConnectionResetError):
            pass  # the gateway answered and closed before everything was sent
        status, _, body = read_response(sock)
    assert status == 413
    assert orjson.loads(body)["error"]["code"] == "request_too_large"


def test_file_over_its_limit_is_413_file_too_large(limited: ServerProcess) -> None:
    line = orjson.dumps({"custom_id": "a", "method": "POST", "url": "/v1/chat/completions",
                         "body": {"model": "gpt-test", "messages": []}}) + b"\n"
    data = line * (200 * 1024 // len(line))
    response = httpx.post(f"{limited.url}/v1/files", headers={"authorization": "Bearer key-chat"},
                          files={"file": ("big.jsonl", data)}, data={"purpose": "batch"},
                          timeout=10)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "file_too_large"
    assert response.json()["error"]["param"] == "file"


def test_oversized_headers_are_431_and_closed(limited: ServerProcess) -> None:
    with connect(limited) as sock:
        sock.sendall(request_head("GET", "/healthz", "x-big: " + "a" * (HEADER_LIMIT * 4)))
        status, headers, _ = read_response(sock)
        assert sock.recv(1) == b""  # closed
    assert status == 431
    assert headers.get("connection") == "close"


def test_many_headers_over_the_limit_are_431(limited: ServerProcess) -> None:
    many = [f"x-h{i}: {'b' * 100}" for i in range(HEADER_LIMIT // 50)]
    with connect(limited) as sock:
        sock.sendall(request_head("GET", "/healthz", *many))
        status, _, _ = read_response(sock)
    assert status == 431


def test_headers_under_the_limit_pass(limited: ServerProcess) -> None:
    response = httpx.get(f"{limited.url}/healthz", headers={"x-fine": "a" * (HEADER_LIMIT // 2)},
                         timeout=10)
    assert response.status_code == 200


def test_slow_request_head_is_408_and_closed(limited: ServerProcess) -> None:
    with connect(limited) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nhost: 127.0.0.1\r\nx-slow: a")
        status, _, _ = read_response(sock)  # nothing more is sent: the head never completes
        assert sock.recv(1) == b""
    assert status == 408


def test_idle_keep_alive_connection_that_starts_a_request_is_408(limited: ServerProcess) -> None:
    with connect(limited) as sock:
        sock.sendall(request_head("GET", "/healthz"))
        status, _, _ = read_response(sock)
        assert status == 200
        sock.sendall(b"GET /healthz HTTP/1.1\r\n")  # a second request that never completes
        status, _, _ = read_response(sock)
    assert status == 408


@pytest.mark.parametrize(("path", "key", "code"), [
    ("/v1/chat/completions", "key-chat", "request_timeout"),  # a raw endpoint
    ("/v1/messages", "key-chat", None),  # Anthropic's shape has no code
    ("/v1/gateway/keys", "admin-secret", "request_timeout"),  # a FastAPI body parameter
])
def test_slow_body_is_408_in_the_callers_shape(
    limited: ServerProcess, path: str, key: str, code: str | None
) -> None:
    with connect(limited) as sock:
        sock.sendall(request_head("POST", path, "content-length: 100",
                                  f"authorization: Bearer {key}") + b'{"model":')
        status, _, body = read_response(sock)
    assert status == 408
    error = orjson.loads(body)["error"]
    assert error.get("code") == code and "client_body_timeout" in error["message"]


def test_a_call_longer_than_the_body_timeout_is_not_cut(limited: ServerProcess) -> None:
    """After the body is read the disconnect watcher waits on `receive` for the whole call."""
    tag = uuid.uuid4().hex[:8]
    body = {"model": "gpt-test", "stream": True,
            "messages": [{"role": "user", "content": f"hi [sim tag={tag} ttft_ms=1500]"}]}
    with httpx.stream("POST", f"{limited.url}/v1/chat/completions", json=body, timeout=10,
                      headers={"authorization": "Bearer key-chat"}) as response:
        text = "".join(response.iter_text())
    assert response.status_code == 200
    assert "data: [DONE]" in text
    unary = dict(body, stream=False)
    response = httpx.post(f"{limited.url}/v1/chat/completions", json=unary, timeout=10,
                          headers={"authorization": "Bearer key-chat"})
    assert response.status_code == 200


def test_limits_hold_with_several_workers(tmp_path: Path, sim: ServerProcess) -> None:
    server = start_gateway(tmp_path, gateway_config(sim.url, **LIMITS), "--workers", "2")
    try:
        for _ in range(4):  # connections spread over both workers
            with connect(server) as sock:
                sock.sendall(request_head("GET", "/healthz", "x-big: " + "a" * HEADER_LIMIT * 2))
                status, _, _ = read_response(sock)
            assert status == 431
        with connect(server) as sock:
            sock.sendall(b"GET /healthz HTTP/1.1\r\n")
            status, _, _ = read_response(sock)
        assert status == 408
    finally:
        server.stop()
