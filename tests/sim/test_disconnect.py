"""Client closes seen by the simulator over real sockets: generation stops, `closed_at` is set."""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Iterator

import orjson
import pytest

from .conftest import RunningSim
from .helpers import directive, new_tag, open_post, read_until

TOKEN_MARK = b'"content":" '


class ErrorCollector(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture(autouse=True)
def no_logged_errors() -> Iterator[None]:
    """Stopping after a disconnect must not log tracebacks or warnings."""
    collector = ErrorCollector()
    loggers = [logging.getLogger(name) for name in ("uvicorn.error", "asyncio", "gateway.sim")]
    for logger in loggers:
        logger.addHandler(collector)
    yield
    for logger in loggers:
        logger.removeHandler(collector)
    assert [r.getMessage() for r in collector.records] == []


def chat_body(text: str, stream: bool) -> bytes:
    return orjson.dumps(
        {"model": "m", "stream": stream, "messages": [{"role": "user", "content": text}]}
    )


def test_stream_closed_after_three_chunks(sim: RunningSim) -> None:
    tag = new_tag()
    text = directive(tag=tag, tokens=500, tps=50)
    sock = open_post(sim.port, "/v1/chat/completions", chat_body(text, True))
    received = read_until(sock, TOKEN_MARK, 3).count(TOKEN_MARK)
    assert received >= 3
    closed = time.time()
    sock.close()
    record = sim.record(tag, lambda r: r["closed_at"] is not None)
    assert record["completed"] is False
    assert 0 <= record["closed_at"] - closed < 0.1
    assert received <= record["tokens_sent"] <= received + 1
    assert sum(t > closed for t in record["token_times"]) <= 1
    time.sleep(0.1)
    assert sim.record(tag)["tokens_sent"] == record["tokens_sent"]


def test_non_stream_closed_while_waiting_for_first_token(sim: RunningSim) -> None:
    tag = new_tag()
    sock = open_post(
        sim.port, "/v1/chat/completions", chat_body(directive(tag=tag, ttft_ms=5000), False)
    )
    time.sleep(0.2)
    closed = time.time()
    sock.close()
    record = sim.record(tag, lambda r: r["closed_at"] is not None)
    assert 0 <= record["closed_at"] - closed < 0.1
    assert record["completed"] is False
    assert record["status_code"] is None
    assert record["tokens_sent"] == 0


def test_non_stream_closed_mid_generation_counts_generated_tokens(sim: RunningSim) -> None:
    tag = new_tag()
    text = directive(tag=tag, ttft_ms=0, tps=50, tokens=1000)
    sock = open_post(sim.port, "/v1/chat/completions", chat_body(text, False))
    time.sleep(0.3)
    closed = time.time()
    sock.close()
    record = sim.record(tag, lambda r: r["closed_at"] is not None)
    generated = int((record["closed_at"] - record["started_at"]) * 50) + 1
    assert 10 <= record["tokens_sent"] < 1000
    assert abs(record["tokens_sent"] - generated) <= 1
    assert sum(t > closed for t in record["token_times"]) <= 1
    assert record["completed"] is False


def test_stall_holds_until_client_leaves(sim: RunningSim) -> None:
    tag = new_tag()
    text = directive(tag=tag, error="stall", error_after=2)
    sock = open_post(sim.port, "/v1/chat/completions", chat_body(text, True))
    received = read_until(sock, TOKEN_MARK, 2)
    sock.settimeout(0.3)
    with pytest.raises(socket.timeout):
        received += sock.recv(65536)
    assert received.count(TOKEN_MARK) == 2
    closed = time.time()
    sock.close()
    record = sim.record(tag, lambda r: r["closed_at"] is not None)
    assert record["tokens_sent"] == 2
    assert record["error"] == "stall"
    assert 0 <= record["closed_at"] - closed < 0.1


def test_anthropic_stream_close(sim: RunningSim) -> None:
    tag = new_tag()
    body = orjson.dumps(
        {
            "model": "c",
            "max_tokens": 1000,
            "stream": True,
            "messages": [{"role": "user", "content": directive(tag=tag, tokens=500, tps=50)}],
        }
    )
    sock = open_post(sim.port, "/v1/messages", body)
    read_until(sock, b"text_delta", 2)
    closed = time.time()
    sock.close()
    record = sim.record(tag, lambda r: r["closed_at"] is not None)
    assert record["tokens_sent"] <= 3
    assert sum(t > closed for t in record["token_times"]) <= 1


def test_completed_stream_has_no_closed_at(sim: RunningSim) -> None:
    tag = new_tag()
    sock = open_post(sim.port, "/v1/chat/completions", chat_body(directive(tag=tag), True))
    received = read_until(sock, b"[DONE]", 1)
    sock.close()
    assert b"[DONE]" in received
    time.sleep(0.05)
    record = sim.record(tag)
    assert record["completed"] is True
    assert record["closed_at"] is None


def test_non_stream_stall_counts_only_tokens_before_the_stall(sim: RunningSim) -> None:
    tag = new_tag()
    text = directive(tag=tag, error="stall", error_after=2)
    sock = open_post(sim.port, "/v1/chat/completions", chat_body(text, False))
    sock.settimeout(0.2)
    with pytest.raises(socket.timeout):
        sock.recv(65536)
    closed = time.time()
    sock.close()
    record = sim.record(tag, lambda r: r["closed_at"] is not None)
    assert record["tokens_sent"] == 2
    assert record["status_code"] is None
    assert 0 <= record["closed_at"] - closed < 0.1
