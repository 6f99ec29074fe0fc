"""Property: no client input gets a 5xx, on any route the gateway serves.

Every route is enumerated from the app itself (FastAPI routes and the raw proxy endpoints), so
a new route is fuzzed without touching this file. Each example picks a route and a method
(sometimes a wrong one), fills its path parameters with odd segments, adds a query string and
headers (keys, X-Gateway-Mode, X-Gateway-Callback-Url, content types) and a body from the
route's strategy: valid shapes mixed with wrong types, huge numbers, deep nesting, NUL and
unicode. The app runs in-process (lifespan started) on a SQLite ledger, with the simulator as
a real upstream process; one more property runs the NUL cases against Postgres, which refuses
NUL in text. Deterministic (derandomized) and bounded in examples.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from fastapi.routing import iter_route_contexts
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from gateway.app import create_app
from gateway.config import build_settings
from gateway.ledger import NullLedger
from tests.inprocess import InProcessApp
from tests.servers import ServerProcess, gateway_config
from tests.services import PostgresDatabases

FUZZ = settings(max_examples=600, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
MODELS = ["gpt-test", "embed-test", "claude-test", "gemini-test", "no-such-model"]
WORKING_PROVIDERS = {"sim", "sim-anthropic", "sim-gemini"}
PARAM = re.compile(r"\{[^}]+\}")


def fuzz_config(sim_url: str, database_url: str) -> dict[str, Any]:
    """The test config without the providers that fail on purpose (dead, wrong key)."""
    config = gateway_config(sim_url, database_url=database_url, max_body_bytes=256 * 1024)
    config["providers"] = [p for p in config["providers"] if p["name"] in WORKING_PROVIDERS]
    config["models"] = [m for m in config["models"] if m["provider"] in WORKING_PROVIDERS]
    return config


class FuzzedApp(InProcessApp):
    file_id = ""  # a valid batch input file, for batch bodies to refer to


def serve(sim: ServerProcess, database_url: str) -> FuzzedApp:
    return FuzzedApp(create_app(build_settings(fuzz_config(sim.url, database_url), {})))


@pytest.fixture(scope="module")
def app(sim: ServerProcess, tmp_path_factory: pytest.TempPathFactory) -> Iterator[FuzzedApp]:
    path: Path = tmp_path_factory.mktemp("fuzz") / "ledger.db"
    served = serve(sim, f"sqlite+aiosqlite:///{path}").start()
    line = {"custom_id": "a", "method": "POST", "url": "/v1/chat/completions",
            "body": {"model": "gpt-test", "messages": [{"role": "user", "content": "hi"}]}}
    uploaded = served.request("POST", "/v1/files", headers={"authorization": "Bearer key-chat"},
                              files={"file": ("in.jsonl", json.dumps(line).encode())},
                              data={"purpose": "batch"})
    assert uploaded.status_code == 200, uploaded.text
    served.file_id = uploaded.json()["id"]
    yield served
    served.stop()


def routes() -> list[tuple[str, str]]:
    """(method, path template) of every route the gateway serves."""
    settings = build_settings(fuzz_config("http://127.0.0.1:9", "sqlite+aiosqlite://"), {})
    probe = create_app(settings, NullLedger())
    found = []
    for route in iter_route_contexts(probe.routes):
        for method in sorted(getattr(route, "methods", None) or {"GET"}):
            found.append((method, route.path))
    assert ("POST", "/v1/chat/completions") in found and ("POST", "/v1/files") in found
    return sorted(set(found))


ROUTES = routes()

# --- values ---------------------------------------------------------------------------------

ODD_TEXT = st.sampled_from(["", "\x00", "a\x00b", "\U0001f642", "\ud800", "x" * 300, "[sim",
                            "null", "\u202e", "é", " ", "{}", "\\u0000"])
TEXT = st.one_of(st.text(max_size=12), ODD_TEXT)
NUMBER = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([0, 1, -1, 2, 20, 128, 129, 2**31 - 1, 2**31, 2**63, 2**64 - 1, 65537]),
    st.floats(allow_nan=False, allow_infinity=False),
    st.booleans(),
)
LEAF = st.one_of(st.none(), st.booleans(), NUMBER, TEXT)
JSON = st.recursive(
    LEAF,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
    max_leaves=6,
)


def maybe(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """The field's own kind of value most of the time, any JSON value sometimes."""
    return st.one_of(strategy, strategy, strategy, strategy, JSON)


def obj(required: dict[str, Any], optional: dict[str, Any]) -> st.SearchStrategy[Any]:
    return maybe(st.fixed_dictionaries(
        {k: maybe(v) for k, v in required.items()},
        optional={k: maybe(v) for k, v in optional.items()},
    ))


TOOL_CALL = obj({"id": TEXT, "type": st.just("function"),
                 "function": obj({"name": TEXT}, {"arguments": TEXT})}, {})
OPENAI_PART = obj({"type": st.sampled_from(["text", "image_url", "input_audio", "refusal"])},
                  {"text": TEXT, "image_url": obj({"url": st.sampled_from(
                      ["data:image/png;base64,AAAA", "https://x/y.png", "data:,x", ""])}, {})})
OPENAI_MESSAGE = obj(
    {"role": st.sampled_from(["system", "developer", "user", "assistant", "tool", "function"]),
     "content": st.one_of(TEXT, st.lists(OPENAI_PART, max_size=2))},
    {"tool_calls": st.lists(TOOL_CALL, max_size=2), "tool_call_id": TEXT, "name": TEXT,
     "refusal": TEXT},
)
OPENAI_TOOL = obj({"type": st.just("function"),
                   "function": obj({"name": TEXT}, {"description": TEXT, "parameters": JSON,
                                                     "strict": st.booleans()})}, {})
OPENAI_OPTIONS = {
    "stream": st.booleans(), "max_tokens": NUMBER, "max_completion_tokens": NUMBER,
    "temperature": NUMBER, "top_p": NUMBER, "n": NUMBER, "seed": NUMBER, "user": TEXT,
    "presence_penalty": NUMBER, "frequency_penalty": NUMBER, "logprobs": st.booleans(),
    "top_logprobs": NUMBER, "stop": st.one_of(TEXT, st.lists(TEXT, max_size=2)),
    "stream_options": obj({}, {"include_usage": st.booleans()}),
    "tools": st.lists(OPENAI_TOOL, max_size=2), "parallel_tool_calls": st.booleans(),
    "tool_choice": st.one_of(st.sampled_from(["auto", "none", "required"]),
                             obj({"type": st.just("function"),
                                  "function": obj({"name": TEXT}, {})}, {})),
    "response_format": obj({"type": st.sampled_from(["text", "json_object", "json_schema"])},
                           {"json_schema": obj({"schema": JSON}, {})}),
    "dimensions": NUMBER, "encoding_format": st.sampled_from(["float", "base64", "x"]),
    "logit_bias": JSON, "metadata": JSON,
}
ANTHROPIC_BLOCK = obj(
    {"type": st.sampled_from(["text", "image", "tool_use", "tool_result", "document",
                              "thinking"])},
    {"text": TEXT, "id": TEXT, "name": TEXT, "input": JSON, "tool_use_id": TEXT,
     "is_error": st.booleans(), "content": st.one_of(TEXT, st.lists(JSON, max_size=2)),
     "source": obj({"type": st.sampled_from(["base64", "url"])},
                   {"media_type": TEXT, "data": TEXT, "url": TEXT})},
)
ANTHROPIC_BODY = obj(
    {"model": st.sampled_from(MODELS), "max_tokens": NUMBER,
     "messages": st.lists(obj({"role": st.sampled_from(["user", "assistant", "system"]),
                               "content": st.one_of(TEXT, st.lists(ANTHROPIC_BLOCK,
                                                                   max_size=2))}, {}),
                          max_size=3)},
    {"stream": st.booleans(), "system": st.one_of(TEXT, st.lists(ANTHROPIC_BLOCK, max_size=2)),
     "temperature": NUMBER, "top_p": NUMBER, "top_k": NUMBER,
     "stop_sequences": st.lists(TEXT, max_size=2), "metadata": obj({}, {"user_id": TEXT}),
     "tools": st.lists(obj({"name": TEXT}, {"description": TEXT, "input_schema": JSON,
                                             "type": TEXT}), max_size=2),
     "tool_choice": obj({"type": st.sampled_from(["auto", "any", "tool", "none"])},
                        {"name": TEXT, "disable_parallel_tool_use": st.booleans()}),
     "thinking": JSON, "service_tier": TEXT},
)
BODIES: dict[str, st.SearchStrategy[Any]] = {
    "/v1/chat/completions": obj(
        {"model": st.sampled_from(MODELS), "messages": st.lists(OPENAI_MESSAGE, max_size=3)},
        OPENAI_OPTIONS),
    "/v1/completions": obj(
        {"model": st.sampled_from(MODELS),
         "prompt": st.one_of(TEXT, st.lists(TEXT, max_size=2), st.lists(NUMBER, max_size=3))},
        OPENAI_OPTIONS),
    "/v1/embeddings": obj(
        {"model": st.sampled_from(MODELS),
         "input": st.one_of(TEXT, st.lists(TEXT, max_size=2), st.lists(NUMBER, max_size=3),
                            st.lists(st.lists(NUMBER, max_size=2), max_size=2))},
        OPENAI_OPTIONS),
    "/v1/messages": ANTHROPIC_BODY,
    "/v1/batches": obj(
        {"input_file_id": st.sampled_from(["file-x", "", "file-\x00"]),
         "endpoint": st.sampled_from(["/v1/chat/completions", "/v1/embeddings", "/v1/x"]),
         "completion_window": st.sampled_from(["24h", "1h"])},
        {"metadata": st.dictionaries(TEXT, TEXT, max_size=3)}),
    "/v1/gateway/keys": obj({"workload": st.one_of(st.sampled_from(["chat-ui", "new-one"]),
                                                   TEXT)}, {}),
}


WITH_BODIES = [("POST", path) for path in BODIES]
UPLOADED = "file-uploaded-by-the-fixture"  # replaced by a real file id before sending
VALID: dict[str, st.SearchStrategy[Any]] = {
    "/v1/chat/completions": st.fixed_dictionaries({
        "model": st.sampled_from(["gpt-test", "claude-test", "gemini-test"]),
        "messages": st.just([{"role": "user", "content": "hi"}]), "max_tokens": st.just(4)}),
    "/v1/completions": st.just({"model": "gpt-test", "prompt": "hi", "max_tokens": 4}),
    "/v1/embeddings": st.just({"model": "embed-test", "input": "hi"}),
    "/v1/messages": st.fixed_dictionaries({
        "model": st.sampled_from(["claude-test", "gpt-test", "gemini-test"]),
        "messages": st.just([{"role": "user", "content": "hi"}]), "max_tokens": st.just(4)}),
    "/v1/batches": st.just({"input_file_id": UPLOADED, "endpoint": "/v1/chat/completions",
                            "completion_window": "24h"}),
    "/v1/gateway/keys": st.just({"workload": "fuzzed"}),
}
FIELDS = {**OPENAI_OPTIONS, "system": TEXT, "top_k": NUMBER, "stop_sequences": JSON,
          "thinking": JSON, "model": st.sampled_from(MODELS), "prompt": JSON, "input": JSON,
          "metadata": JSON, "endpoint": TEXT, "completion_window": TEXT, "workload": TEXT}
MESSAGE_FIELDS = {
    "role": st.sampled_from(["user", "assistant", "system", "tool", "x"]),
    "content": st.one_of(TEXT, st.lists(OPENAI_PART, max_size=2),
                         st.lists(ANTHROPIC_BLOCK, max_size=2)),
    "tool_calls": st.lists(TOOL_CALL, max_size=2), "tool_call_id": TEXT, "name": TEXT,
    "refusal": TEXT,
}


@st.composite
def near_valid(draw: st.DrawFn, path: str) -> Any:
    """A valid body for `path` with up to two fields set to something else or removed."""
    body = json.loads(json.dumps(draw(VALID[path])))
    for _ in range(draw(st.sampled_from([0, 1, 1, 2]))):
        messages = body.get("messages")
        if draw(st.booleans()) and isinstance(messages, list) and messages:
            target, fields = messages[0], MESSAGE_FIELDS
            if not isinstance(target, dict):
                continue
        else:
            target, fields = body, FIELDS
        key = draw(st.sampled_from(sorted(fields)))
        if key in target and draw(st.integers(0, 4)) == 0:
            del target[key]
        else:
            target[key] = draw(maybe(fields[key]))
    return body


@st.composite
def deep_json(draw: st.DrawFn) -> bytes:
    """Nesting around orjson's encode limit (254) and its decode limit (1024)."""
    depth = draw(st.sampled_from([200, 254, 255, 300, 1023, 1100]))
    inner = b"[" * depth + b"]" * depth
    template = draw(st.sampled_from([
        b'{"model":"gpt-test","messages":[{"role":"user","content":"hi"}],"metadata":%s}',
        b'{"model":"claude-test","max_tokens":5,"messages":[{"role":"user","content":%s}]}',
        b'{"model":"gemini-test","messages":[{"role":"user","content":"x"}],"tools":[{"type":'
        b'"function","function":{"name":"f","parameters":{"a":%s}}}]}',
        b"%s",
    ]))
    return template % inner


@st.composite
def multipart(draw: st.DrawFn) -> tuple[bytes, str]:
    boundary = "fuzzboundary"
    line = {"custom_id": draw(TEXT), "method": "POST",
            "url": draw(st.sampled_from(["/v1/chat/completions", "/v1/embeddings", "/x"])),
            "body": draw(BODIES["/v1/chat/completions"])}
    data = draw(st.one_of(st.just(json.dumps(line).encode()), st.binary(max_size=64)))
    filename = draw(st.sampled_from(['"in.jsonl"', '"a\x00.jsonl"', '""', "x", '"\u00e9"']))
    purpose = draw(st.sampled_from(["batch", "fine-tune", "", "\x00"]))
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"purpose\"\r\n\r\n"
            f"{purpose}\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; "
            f"filename={filename}\r\n\r\n").encode() + data + f"\r\n--{boundary}--\r\n".encode()
    content_type = draw(st.sampled_from([f"multipart/form-data; boundary={boundary}",
                                         "multipart/form-data", "application/json"]))
    return body, content_type


SEGMENT = st.one_of(
    st.text(max_size=10).map(lambda t: quote(t, safe="")),
    st.sampled_from(["file-x", "batch_x", "..", "%2F", "%ff", "%00", "a" * 400, "dashboard.js",
                     "%F0%9F%99%82", "key_x", "gw-abc"]),
)
HEADER_TEXT = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0xFF,
                                             exclude_characters="\x7f"),
                      max_size=16).map(lambda text: text.encode("latin-1"))  # obs-text passes
AUTH = st.one_of(
    st.sampled_from([{"authorization": "Bearer key-chat"}, {"x-api-key": "key-chat"},
                     {"authorization": "Bearer admin-secret"}]),
    st.sampled_from([{"authorization": "Bearer key-chat"}, {"authorization": "Bearer admin-secret"},
                     {}, {"authorization": "Bearer nope"}, {"authorization": "Basic x"},
                     {"authorization": "Bearer "}, {"x-api-key": ""},
                     {"authorization": "Bearer key-chat", "x-api-key": "nope"}]),
)
HEADERS = st.fixed_dictionaries({}, optional={
    "x-gateway-mode": st.sampled_from(["batch", "sync", "stream", "auto", " BATCH ", "x", ""]),
    # No "[" here: the unbalanced IPv6 callback URL (`http://[::1`) is another change's case.
    "x-gateway-callback-url": st.sampled_from(["http://127.0.0.1:9/cb", "ftp://x/y", "http://",
                                               "https://example.com:99999/x", "not a url",
                                               "http://a b/", "https://hooks.example/x"]),
    "content-type": st.sampled_from(["application/json", "text/plain", "", "multipart/form-data"]),
    "anthropic-version": HEADER_TEXT,
    "anthropic-beta": HEADER_TEXT,
})
QUERY = st.dictionaries(
    st.sampled_from(["limit", "after", "since", "until", "workload", "status", "group_by", "x"]),
    st.one_of(TEXT.filter(lambda text: "\ud800" not in text),
              st.sampled_from(["99999999d", "1e400d", "24h", "2025-01-01", "-1", "0",
                               "workload,model", "nope", "10"])),
    max_size=3,
)
OTHER_METHODS = ["GET", "POST", "DELETE", "PUT", "PATCH", "HEAD"]


@st.composite
def requests(draw: st.DrawFn) -> dict[str, Any]:
    method, template = draw(st.one_of(st.sampled_from(WITH_BODIES), st.sampled_from(ROUTES)))
    if draw(st.integers(0, 9)) == 0:
        method = draw(st.sampled_from(OTHER_METHODS))
    path = PARAM.sub(lambda _: draw(SEGMENT) or "x", template)
    headers = {**draw(AUTH), **draw(HEADERS)}
    content: bytes = b""
    if template == "/v1/files" and method == "POST":
        content, headers["content-type"] = draw(multipart())
    elif method in ("POST", "PUT", "PATCH", "DELETE"):
        near = near_valid(template) if template in VALID else JSON
        kind = draw(st.sampled_from(["deep", "bytes", "shaped", "near", "near", "near", "near"]))
        if kind == "deep":
            content = draw(deep_json())
        elif kind == "bytes":
            content = draw(st.binary(max_size=64))
        else:
            body = draw(near if kind == "near" else BODIES.get(template, JSON))
            content = json.dumps(body, ensure_ascii=draw(st.booleans())).encode(
                "utf-8", "surrogatepass")
    return {"method": method, "url": path, "params": draw(QUERY), "headers": headers,
            "content": content}


def assert_no_5xx(app: FuzzedApp, request: dict[str, Any]) -> None:
    request["content"] = request["content"].replace(UPLOADED.encode(), app.file_id.encode())
    response = app.request(**request)
    event(f"HTTP {response.status_code}")  # the mix: pytest --hypothesis-show-statistics
    assert response.status_code < 500, (request, response.status_code, response.text[:500])


@pytest.mark.timeout(120)
@FUZZ
@given(request=requests())
def test_no_client_input_gets_a_5xx(app: FuzzedApp, request: dict[str, Any]) -> None:
    assert_no_5xx(app, request)


# --- NUL against Postgres -------------------------------------------------------------------

NUL = st.sampled_from(["\x00", "a\x00", "\x00b\x00"])


@st.composite
def nul_requests(draw: st.DrawFn) -> dict[str, Any]:
    """Where NUL meets stored or queried text: path, query, deferred body, batch fields."""
    nul = draw(NUL)
    admin = {"authorization": "Bearer admin-secret"}
    chat = {"authorization": "Bearer key-chat"}
    choices = [
        {"method": "GET", "url": f"/v1/gateway/requests/{quote(nul)}", "headers": admin},
        {"method": "GET", "url": "/v1/gateway/requests", "params": {"workload": nul},
         "headers": admin},
        {"method": "GET", "url": f"/v1/files/{quote(nul)}", "headers": chat},
        {"method": "DELETE", "url": f"/v1/gateway/keys/{quote(nul)}", "headers": admin},
        {"method": "POST", "url": "/v1/chat/completions",
         "headers": {**chat, "x-gateway-mode": "batch"},
         "json": {"model": "gpt-test", "user": nul,
                  "messages": [{"role": "user", "content": nul}]}},
        {"method": "POST", "url": "/v1/messages", "headers": {**chat, "x-gateway-mode": "batch"},
         "json": {"model": "claude-test", "max_tokens": 5, "metadata": {"user_id": nul},
                  "messages": [{"role": "user", "content": [{"type": "text", "text": nul}]}]}},
        {"method": "POST", "url": "/v1/batches", "headers": chat,
         "json": {"input_file_id": nul, "endpoint": "/v1/chat/completions",
                  "completion_window": "24h"}},
        {"method": "POST", "url": "/v1/gateway/keys", "headers": admin,
         "json": {"workload": nul}},
    ]
    return draw(st.sampled_from(choices))


@pytest.fixture(scope="module")
def pg_app(sim: ServerProcess, postgres: PostgresDatabases) -> Iterator[FuzzedApp]:
    served = serve(sim, postgres.new()).start()
    yield served
    served.stop()


@pytest.mark.timeout(60)
@settings(max_examples=24, deadline=None, derandomize=True, database=None)
@given(request=nul_requests())
def test_nul_never_reaches_postgres(pg_app: FuzzedApp, request: dict[str, Any]) -> None:
    response = pg_app.request(**request)
    assert response.status_code < 500, (request, response.status_code, response.text[:500])
    assert response.status_code in (400, 404), (request, response.text[:500])
