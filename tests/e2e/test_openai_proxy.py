"""The real `openai` SDK against a running gateway and simulator: every route, both modes."""

from __future__ import annotations

import json
import uuid

import httpx
import openai
import pytest

from tests.conftest import sim_records
from tests.servers import SIM_KEY


def tag() -> str:
    return uuid.uuid4().hex[:12]


def ask(t: str, extra: str = "") -> list[dict]:
    return [{"role": "system", "content": "be brief"},
            {"role": "user", "content": f"hello there [sim tag={t} {extra}]"}]


def test_chat_non_stream(client: openai.OpenAI, sim) -> None:
    t = tag()
    raw = client.chat.completions.with_raw_response.create(model="gpt-test", messages=ask(t))
    completion = raw.parse()
    assert raw.headers["x-gateway-request-id"]
    assert completion.choices[0].message.content.split()
    assert completion.usage.completion_tokens == 12
    (record,) = sim_records(sim, t)
    assert record["model"] == "sim-gpt"  # the client's name was mapped to the upstream's
    assert record["api_key"] == SIM_KEY  # the provider key was injected
    assert record["request_id"] == raw.headers["x-gateway-request-id"]
    assert record["completed"] is True


def test_chat_stream_hides_the_usage_chunk_it_asked_for(client: openai.OpenAI, sim) -> None:
    t = tag()
    chunks = list(client.chat.completions.create(model="gpt-test", messages=ask(t), stream=True))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert len(text.split()) == 12
    assert all(c.choices for c in chunks), "a usage chunk leaked to a client that did not ask"
    assert chunks[-1].choices[0].finish_reason == "stop"
    (record,) = sim_records(sim, t)
    assert record["stream_options"] == {"include_usage": True}


def test_chat_stream_with_usage_when_asked(client: openai.OpenAI) -> None:
    chunks = list(client.chat.completions.create(
        model="gpt-test", messages=ask(tag()), stream=True,
        stream_options={"include_usage": True}))
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 12


def test_stream_headers_carry_the_request_id(gateway) -> None:
    with httpx.stream("POST", f"{gateway.url}/v1/chat/completions", headers={
            "authorization": "Bearer key-chat"}, json={"model": "gpt-test", "stream": True,
            "messages": ask(tag())}) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        assert len(response.headers["x-gateway-request-id"]) == 32
        body = response.read().decode()
    assert body.rstrip().endswith("data: [DONE]")


def test_tool_call_stream_reassembles(client: openai.OpenAI) -> None:
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {
        "type": "object", "properties": {"location": {"type": "string"},
                                         "unit": {"type": "string"}}}}}]
    stream = client.chat.completions.create(model="gpt-test", messages=ask(tag(), "tool_calls=2"),
                                            tools=tools, stream=True)
    calls: dict[int, dict] = {}
    finish = None
    for chunk in stream:
        for choice in chunk.choices:
            finish = choice.finish_reason or finish
            for delta in choice.delta.tool_calls or ():
                entry = calls.setdefault(delta.index, {"name": "", "arguments": ""})
                if delta.function.name:
                    entry["name"] = delta.function.name
                entry["arguments"] += delta.function.arguments or ""
    assert finish == "tool_calls"
    assert sorted(calls) == [0, 1]
    for entry in calls.values():
        assert entry["name"] == "get_weather"
        assert set(json.loads(entry["arguments"])) == {"location", "unit"}


def test_completions_both_modes(client: openai.OpenAI) -> None:
    full = client.completions.create(model="gpt-test", prompt=f"say [sim tag={tag()}]")
    assert full.choices[0].text.split() and full.usage.completion_tokens == 12
    pieces = list(client.completions.create(model="gpt-test", prompt="go", stream=True))
    assert "".join(p.choices[0].text for p in pieces if p.choices) == full.choices[0].text


@pytest.mark.parametrize("encoding", ["float", "base64"])
def test_embeddings(client: openai.OpenAI, encoding: str) -> None:
    kwargs = {"encoding_format": "float"} if encoding == "float" else {}
    result = client.embeddings.create(model="embed-test", input=["a", "b"], dimensions=8, **kwargs)
    assert [len(item.embedding) for item in result.data] == [8, 8]
    assert result.data[0].embedding != result.data[1].embedding


def test_models_list(client: openai.OpenAI) -> None:
    ids = {m.id for m in client.models.list()}
    assert {"gpt-test", "embed-test"} <= ids


def test_unknown_or_missing_key_is_401(gateway) -> None:
    bad = openai.OpenAI(base_url=f"{gateway.url}/v1", api_key="nope", max_retries=0)
    with pytest.raises(openai.AuthenticationError) as info:
        bad.models.list()
    assert info.value.response.headers["x-gateway-request-id"]
    assert "nope" not in info.value.response.text
    response = httpx.post(f"{gateway.url}/v1/chat/completions", json={"model": "gpt-test"})
    assert response.status_code == 401
    assert response.json()["error"]["type"] == "authentication_error"


def test_x_api_key_header_is_accepted(gateway) -> None:
    response = httpx.get(f"{gateway.url}/v1/models", headers={"x-api-key": "key-etl"})
    assert response.status_code == 200


def test_unknown_model_is_404(client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as info:
        client.chat.completions.create(model="no-such-model", messages=ask(tag()))
    assert info.value.code == "model_not_found"


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"messages": [{"role": "user", "content": "x"}]}, "model"),
        ({"model": "gpt-test"}, "messages"),
        ({"model": "gpt-test", "messages": "hi"}, "messages"),
        ({"model": "gpt-test", "messages": [{"content": "x"}]}, "messages[0]"),
        ({"model": "gpt-test", "messages": [{"role": "user", "content": "x"}], "stream": "yes"},
         "stream"),
        ({"model": "gpt-test", "messages": [{"role": "user", "content": "x"}],
          "max_tokens": "ten"}, "max_tokens"),
        ({"model": 5, "messages": []}, "model"),
    ],
)
def test_bad_input_is_400_naming_the_field(gateway, body: dict, param: str) -> None:
    response = httpx.post(f"{gateway.url}/v1/chat/completions", json=body,
                          headers={"authorization": "Bearer key-chat"})
    assert response.status_code == 400
    assert response.json()["error"]["param"] == param
    assert response.headers["x-gateway-request-id"]


def test_malformed_json_is_400(gateway) -> None:
    response = httpx.post(f"{gateway.url}/v1/chat/completions", content=b"{not json",
                          headers={"authorization": "Bearer key-chat",
                                   "content-type": "application/json"})
    assert response.status_code == 400
    assert "not valid JSON" in response.json()["error"]["message"]


def test_oversized_body_is_413(gateway) -> None:
    big = "x" * (70 * 1024)
    response = httpx.post(f"{gateway.url}/v1/chat/completions", headers={
        "authorization": "Bearer key-chat"}, json={"model": "gpt-test",
        "messages": [{"role": "user", "content": big}]})
    assert response.status_code == 413
    assert "limit" in response.json()["error"]["message"]


def test_unknown_route_is_openai_shaped_404(gateway) -> None:
    response = httpx.get(f"{gateway.url}/v1/nothing-here")
    assert response.status_code == 404
    assert response.json()["error"]["type"] == "not_found_error"


def test_route_errors_under_messages_use_anthropic_shape(gateway) -> None:
    response = httpx.get(f"{gateway.url}/v1/messages", headers={"x-api-key": "key-chat"})
    assert response.status_code == 405
    assert response.json()["type"] == "error"
    assert response.json()["error"]["type"] == "invalid_request_error"
    missing = httpx.post(f"{gateway.url}/v1/messages/nothing", json={})
    assert missing.status_code == 404 and missing.json()["error"]["type"] == "not_found_error"
