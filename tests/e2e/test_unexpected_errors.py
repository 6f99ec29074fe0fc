"""An upstream answer the gateway cannot read (HTTP 200, JSON of the wrong shape): the client
gets an error in its own shape, the ledger records the call failed (never completed), and the
log has the traceback once."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import orjson
import pytest

from tests.e2e.vendors import ledger_record
from tests.servers import ServerProcess, gateway_config, start_gateway

CHAT = {"authorization": "Bearer key-chat"}


@pytest.fixture(scope="module")
def gateway(
    tmp_path_factory: pytest.TempPathFactory, sim: ServerProcess
) -> Iterator[ServerProcess]:
    """A gateway of its own: these tests put tracebacks in its log on purpose."""
    server = start_gateway(tmp_path_factory.mktemp("unexpected"), gateway_config(sim.url))
    yield server
    server.stop()


def odd(model: str, **extra: object) -> dict[str, object]:
    tag = uuid.uuid4().hex[:8]
    return {"model": model, "max_tokens": 20, **extra,
            "messages": [{"role": "user", "content": f"hi [sim tag={tag} error=odd_shape]"}]}


@pytest.mark.parametrize(("path", "model"), [
    ("/v1/chat/completions", "gpt-test"),  # native relay: read on the side
    ("/v1/chat/completions", "claude-test"),  # translated: parsed and re-encoded
    ("/v1/chat/completions", "gemini-test"),
    ("/v1/messages", "claude-test"),
    ("/v1/messages", "gpt-test"),
])
def test_unreadable_whole_answer_is_502_and_recorded_failed(
    gateway: ServerProcess, path: str, model: str
) -> None:
    response = httpx.post(gateway.url + path, json=odd(model), headers=CHAT, timeout=10)
    assert response.status_code == 502, response.text
    body = response.json()
    if path == "/v1/messages":
        assert body["type"] == "error"
    else:
        assert body["error"]["type"] == "upstream_error"
    assert "could not read" in response.text
    record = ledger_record(gateway, response.headers["x-gateway-request-id"])
    assert record["status"] == "failed"
    assert record["http_status"] == 502


@pytest.mark.parametrize(("path", "model"), [
    ("/v1/chat/completions", "gpt-test"),
    ("/v1/chat/completions", "claude-test"),
    ("/v1/messages", "claude-test"),
    ("/v1/messages", "gemini-test"),
])
def test_unreadable_stream_ends_with_an_error_event_and_is_recorded_failed(
    gateway: ServerProcess, path: str, model: str
) -> None:
    with httpx.stream("POST", gateway.url + path, json=odd(model, stream=True), headers=CHAT,
                      timeout=10) as response:
        text = "".join(response.iter_text())
        call_id = response.headers["x-gateway-request-id"]
    assert response.status_code == 200
    last = [line for line in text.splitlines() if line.startswith("data: ")][-1]
    assert "error" in orjson.loads(last[len("data: "):])
    record = ledger_record(gateway, call_id)
    assert record["status"] == "failed"
    assert record["http_status"] == 502


def test_unexpected_errors_are_logged_once_each(gateway: ServerProcess) -> None:
    before = gateway.output().count("Traceback")
    response = httpx.post(gateway.url + "/v1/chat/completions", json=odd("gpt-test"),
                          headers=CHAT, timeout=10)
    assert response.status_code == 502
    ledger_record(gateway, response.headers["x-gateway-request-id"])
    log = gateway.output()
    assert log.count("Traceback") == before + 1
    assert "Exception in ASGI application" not in log
