"""Client input never gets a 5xx: each case measured as a 500/503 (or passed through unchecked)
now answers 4xx naming the field, on a gateway whose ledger is Postgres (which refuses NUL)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest

from tests.e2e.vendors import ledger_record
from tests.servers import ServerProcess, gateway_config, start_gateway
from tests.services import PostgresDatabases

CHAT = {"authorization": "Bearer key-chat"}
ADMIN = {"authorization": "Bearer admin-secret"}
DEFER = {**CHAT, "x-gateway-mode": "batch"}


@pytest.fixture(scope="module")
def pg_gateway(
    tmp_path_factory: pytest.TempPathFactory, sim: ServerProcess, postgres: PostgresDatabases
) -> Iterator[ServerProcess]:
    config = gateway_config(sim.url, database_url=postgres.new(), max_body_bytes=1024 * 1024)
    server = start_gateway(tmp_path_factory.mktemp("client-input"), config)
    yield server
    server.stop()


def post(server: ServerProcess, path: str, body: Any, headers: dict[str, str] = CHAT,
         raw: bytes | None = None) -> httpx.Response:
    content = raw if raw is not None else orjson.dumps(body)
    return httpx.post(server.url + path, content=content, timeout=10,
                      headers={**headers, "content-type": "application/json"})


def chat(model: str = "gpt-test", **extra: Any) -> dict[str, Any]:
    tag = uuid.uuid4().hex[:8]
    return {"model": model, "messages": [{"role": "user", "content": f"hi [sim tag={tag}]"}],
            **extra}


def nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


def assert_refused(response: httpx.Response, param: str | None, status: int = 400) -> None:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    if param is not None:
        assert error.get("param") == param or param in error["message"], error


@pytest.mark.parametrize(("path", "body", "param"), [
    ("/v1/embeddings", {"model": "embed-test", "input": "x", "dimensions": 2147483648},
     "dimensions"),
    ("/v1/embeddings", {"model": "embed-test", "input": "x", "dimensions": 0}, "dimensions"),
    ("/v1/chat/completions", chat(max_tokens=0), "max_tokens"),
    ("/v1/chat/completions", chat(max_completion_tokens=2**31), "max_completion_tokens"),
    ("/v1/chat/completions", chat(max_tokens=1.5), "max_tokens"),
    ("/v1/chat/completions", chat(max_tokens=True), "max_tokens"),
    ("/v1/chat/completions", chat(n=1000), "n"),
    ("/v1/chat/completions", chat(temperature=2.5), "temperature"),
    ("/v1/chat/completions", chat(top_p=-0.1), "top_p"),
    ("/v1/chat/completions", chat(presence_penalty=3), "presence_penalty"),
    ("/v1/chat/completions", chat(frequency_penalty=-2.5), "frequency_penalty"),
    ("/v1/chat/completions", chat(top_logprobs=21, logprobs=True), "top_logprobs"),
    ("/v1/completions", {"model": "gpt-test", "prompt": "x", "max_tokens": -1}, "max_tokens"),
    ("/v1/messages", {**chat("claude-test"), "max_tokens": 10, "top_k": -1}, "top_k"),
    ("/v1/messages", {**chat("claude-test"), "max_tokens": 2**40}, "max_tokens"),
])
def test_numeric_ranges_no_provider_accepts_are_400(
    pg_gateway: ServerProcess, path: str, body: dict[str, Any], param: str
) -> None:
    response = post(pg_gateway, path, body)
    assert response.status_code == 400, response.text
    if path == "/v1/messages":
        assert response.json()["error"]["type"] == "invalid_request_error"
        assert param in response.json()["error"]["message"]
    else:
        assert response.json()["error"]["param"] == param


def test_numbers_at_the_edges_of_their_ranges_pass(pg_gateway: ServerProcess) -> None:
    response = post(pg_gateway, "/v1/chat/completions",
                    chat(max_tokens=2**31 - 1, temperature=2, top_p=0, n=1, presence_penalty=-2))
    assert response.status_code == 200, response.text
    response = post(pg_gateway, "/v1/embeddings",
                    {"model": "embed-test", "input": "x", "dimensions": 64})
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(("path", "model", "headers"), [
    ("/v1/chat/completions", "gpt-test", CHAT),  # relayed natively
    ("/v1/chat/completions", "claude-test", CHAT),  # translated
    ("/v1/messages", "claude-test", CHAT),
    ("/v1/messages", "gemini-test", CHAT),
    ("/v1/chat/completions", "gpt-test", DEFER),  # deferred: stored
])
def test_deeply_nested_body_is_400(
    pg_gateway: ServerProcess, path: str, model: str, headers: dict[str, str]
) -> None:
    deep = nested(300)
    tool = (b'{"name":"f","input_schema":{"type":"object","x":%s}}' if path == "/v1/messages"
            else b'{"type":"function","function":{"name":"f","parameters":{"x":%s}}}') % deep
    raw = (b'{"model":"%s","max_tokens":5,"messages":[{"role":"user","content":"hi"}],'
           b'"tools":[%s]}' % (model.encode(), tool))
    response = post(pg_gateway, path, None, headers, raw=raw)
    assert response.status_code == 400, response.text
    assert "nest" in response.text


def test_assistant_tool_calls_as_a_number_is_400_naming_it(pg_gateway: ServerProcess) -> None:
    body = {"model": "claude-test", "messages": [
        {"role": "user", "content": "hi"}, {"role": "assistant", "tool_calls": 5},
        {"role": "user", "content": "again"}]}
    response = post(pg_gateway, "/v1/chat/completions", body)
    assert_refused(response, "messages[1].tool_calls")


def test_batch_with_a_non_string_endpoint_is_400(pg_gateway: ServerProcess) -> None:
    for endpoint in (["/v1/chat/completions"], {"a": 1}, 7):
        body = {"input_file_id": "file-x", "endpoint": endpoint, "completion_window": "24h"}
        assert_refused(post(pg_gateway, "/v1/batches", body), "endpoint")


@pytest.mark.parametrize("query", [{"since": "99999999d"}, {"until": "9999999999w"},
                                   {"since": "1e400d"}])
def test_relative_time_out_of_range_is_400_naming_it(
    pg_gateway: ServerProcess, query: dict[str, str]
) -> None:
    response = httpx.get(f"{pg_gateway.url}/v1/gateway/spend", params=query, headers=ADMIN,
                         timeout=10)
    assert_refused(response, next(iter(query)))


@pytest.mark.parametrize("path", [
    "/v1/gateway/requests/a%00b",
    "/v1/gateway/requests?workload=a%00b",
    "/v1/files/file-%00",
    "/v1/batches/batch_%00",
    "/v1/gateway/spend?since=%00",
])
def test_nul_in_path_or_query_is_400(pg_gateway: ServerProcess, path: str) -> None:
    response = httpx.get(pg_gateway.url + path, headers=ADMIN, timeout=10)
    assert_refused(response, None)
    assert "NUL" in response.json()["error"]["message"]


def test_nul_in_a_deferred_body_is_400_naming_the_field(pg_gateway: ServerProcess) -> None:
    body = chat()
    body["messages"].append({"role": "user", "content": "a\u0000b"})
    response = post(pg_gateway, "/v1/chat/completions", body, DEFER)
    assert_refused(response, "messages[1].content")
    response = post(pg_gateway, "/v1/chat/completions", chat(user="x\u0000"), DEFER)
    assert_refused(response, "user")
    response = post(pg_gateway, "/v1/messages", {**chat("claude-test"), "max_tokens": 5,
                                                 "metadata": {"user_id": "\u0000"}}, DEFER)
    assert response.status_code == 400, response.text
    assert "metadata.user_id" in response.json()["error"]["message"]


def test_nul_in_a_batch_file_or_metadata_is_400(pg_gateway: ServerProcess) -> None:
    line = {"custom_id": "a\u0000", "method": "POST", "url": "/v1/chat/completions",
            "body": chat()}
    second = {"custom_id": "b", "method": "POST", "url": "/v1/chat/completions",
              "body": chat(stop=["\u0000"])}
    data = orjson.dumps(line) + b"\n" + orjson.dumps(second) + b"\n"
    response = httpx.post(f"{pg_gateway.url}/v1/files", headers=CHAT, timeout=10,
                          files={"file": ("in.jsonl", data)}, data={"purpose": "batch"})
    assert response.status_code == 400, response.text
    message = response.json()["error"]["message"]
    assert "line 1: 'custom_id'" in message and "line 2: 'stop[0]'" in message
    response = httpx.post(f"{pg_gateway.url}/v1/files", headers=CHAT, timeout=10,
                          files={"file": ("in\u0000.jsonl", orjson.dumps(second))},
                          data={"purpose": "batch"})
    assert response.status_code == 400, response.text
    body = {"input_file_id": "file-x", "endpoint": "/v1/chat/completions",
            "completion_window": "24h", "metadata": {"k": "v\u0000"}}
    assert_refused(post(pg_gateway, "/v1/batches", body), "metadata")


def test_nul_in_a_live_call_is_relayed_and_recorded(pg_gateway: ServerProcess) -> None:
    """Live calls are not stored: their text may hold NUL; the ledger row still lands."""
    body = chat()
    body["messages"].append({"role": "user", "content": "a\u0000b"})
    response = post(pg_gateway, "/v1/chat/completions", body)
    assert response.status_code == 200, response.text
    record = ledger_record(pg_gateway, response.headers["x-gateway-request-id"])
    assert record["status"] == "completed"
