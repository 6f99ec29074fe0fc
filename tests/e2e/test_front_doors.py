"""The front doors real clients hit besides generation: CORS, `GET /v1/models/{id}` (OpenAI
and Anthropic shapes) and `POST /v1/messages/count_tokens`, with the real SDKs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import anthropic
import httpx
import openai
import pytest

from gateway.ledger.prompts import prompt_tokens
from tests.conftest import sim_records
from tests.servers import SIM_KEY, ServerProcess, gateway_config, start_gateway

from .vendors import new_tag, one_record

APP = "https://app.example"
SLASHED = "meta-llama/Llama-3.1-8B"


@pytest.fixture(scope="module")
def front(tmp_path_factory: pytest.TempPathFactory, sim: ServerProcess) -> Iterator[ServerProcess]:
    config = gateway_config(sim.url, cors_allowed_origins=[APP, "http://localhost:3000"])
    config["models"].append({"name": SLASHED, "provider": "sim", "upstream_model": "sim-gpt"})
    server = start_gateway(tmp_path_factory.mktemp("front"), config)
    yield server
    server.stop()


def preflight(url: str, origin: str, headers: str) -> httpx.Response:
    return httpx.options(
        f"{url}/v1/chat/completions",
        headers={
            "origin": origin,
            "access-control-request-method": "POST",
            "access-control-request-headers": headers,
        },
        timeout=5,
    )


def test_cors_is_off_by_default(gateway: ServerProcess) -> None:
    response = preflight(gateway.url, APP, "authorization")
    assert response.status_code == 405
    assert "access-control-allow-origin" not in response.headers
    actual = httpx.get(f"{gateway.url}/v1/models", headers={"origin": APP,
                       "authorization": "Bearer key-chat"})  # fmt: skip
    assert "access-control-allow-origin" not in actual.headers


def test_preflight_for_an_allowed_origin(front: ServerProcess) -> None:
    asked = (
        "authorization, content-type, x-stainless-os, anthropic-version, anthropic-beta, "
        "x-goog-api-key, openai-organization, x-gateway-mode, x-not-ours"
    )
    response = preflight(front.url, APP, asked)
    assert response.status_code == 204
    assert response.headers["access-control-allow-origin"] == APP
    assert "POST" in response.headers["access-control-allow-methods"]
    assert int(response.headers["access-control-max-age"]) > 0
    allowed = {h.strip() for h in response.headers["access-control-allow-headers"].split(",")}
    assert allowed == {h.strip() for h in asked.split(",")} - {"x-not-ours"}
    # any route, even one with no OPTIONS handler
    assert preflight(front.url, "http://localhost:3000", "x-api-key").status_code == 204


def test_preflight_for_a_disallowed_origin(front: ServerProcess) -> None:
    response = preflight(front.url, "https://evil.example", "authorization")
    assert response.status_code == 403
    assert not [h for h in response.headers if h.startswith("access-control-")]


def test_actual_responses_carry_cors_headers(front: ServerProcess) -> None:
    response = httpx.get(
        f"{front.url}/v1/models", headers={"origin": APP, "authorization": "Bearer key-chat"}
    )
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == APP
    exposed = response.headers["access-control-expose-headers"]
    assert "x-gateway-request-id" in exposed and "retry-after" in exposed
    other = httpx.get(f"{front.url}/v1/models", headers={"origin": "https://evil.example",
                      "authorization": "Bearer key-chat"})  # fmt: skip
    assert other.status_code == 200 and "access-control-allow-origin" not in other.headers


def test_a_stream_still_streams_with_cors_on(front: ServerProcess, sim: ServerProcess) -> None:
    tag = new_tag()
    body = {
        "model": "gpt-test",
        "stream": True,
        "messages": [{"role": "user", "content": f"hi [sim tag={tag} tokens=40 tps=20]"}],
    }
    headers = {"origin": APP, "authorization": "Bearer key-chat"}
    with httpx.stream("POST", f"{front.url}/v1/chat/completions", json=body, headers=headers,
                      timeout=10) as response:  # fmt: skip
        assert response.headers["access-control-allow-origin"] == APP
        lines = response.iter_lines()
        first = next(line for line in lines if '"content":" ' in line)
        # the first token is here while the simulator is still generating the other 39
        assert first and one_record(sim, tag)["completed"] is False
        rest = [line for line in lines if line.startswith("data: ")]
    assert rest[-1] == "data: [DONE]"


def test_openai_models_retrieve(front: ServerProcess) -> None:
    client = openai.OpenAI(base_url=f"{front.url}/v1", api_key="key-chat", max_retries=0)
    model = client.models.retrieve("gpt-test")
    assert (model.id, model.object, model.owned_by) == ("gpt-test", "model", "sim")
    assert client.models.retrieve(SLASHED).id == SLASHED
    with pytest.raises(openai.NotFoundError) as caught:
        client.models.retrieve("no-such-model")
    assert caught.value.code == "model_not_found"
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=f"{front.url}/v1", api_key="bad", max_retries=0).models.retrieve(
            "gpt-test"
        )


def test_anthropic_models_list_and_retrieve(front: ServerProcess) -> None:
    client = anthropic.Anthropic(base_url=front.url, api_key="key-chat", max_retries=0)
    model = client.models.retrieve("claude-test")
    assert (model.type, model.id, model.display_name) == ("model", "claude-test", "claude-test")
    assert model.created_at.year >= 2024
    ids = [m.id for m in client.models.list(limit=3)]  # pages through all of them
    assert "claude-test" in ids and SLASHED in ids and len(ids) == len(set(ids))
    with pytest.raises(anthropic.NotFoundError) as caught:
        client.models.retrieve("no-such-model")
    assert caught.value.body["error"]["type"] == "not_found_error"  # type: ignore[index]


def test_count_tokens_relayed_to_an_anthropic_model(
    front: ServerProcess, sim: ServerProcess
) -> None:
    client = anthropic.Anthropic(base_url=front.url, api_key="key-chat", max_retries=0)
    tag = new_tag()
    count = client.messages.count_tokens(
        model="claude-test",
        system="be brief",
        messages=[{"role": "user", "content": f"one two [sim tag={tag}]"}],
    )
    assert count.input_tokens == 6  # the simulator's own count: its word count
    record = one_record(sim, tag)
    assert record["path"] == "/v1/messages/count_tokens" and record["api_key"] == SIM_KEY
    assert record["model"] == "sim-claude"


def test_count_tokens_for_other_models_uses_the_tokenizer(
    front: ServerProcess, sim: ServerProcess
) -> None:
    client = anthropic.Anthropic(base_url=front.url, api_key="key-chat", max_retries=0)
    tag = new_tag()
    messages = [{"role": "user", "content": f"count these words please [sim tag={tag}]"}]
    for model in ("gpt-test", "gemini-test"):
        count = client.messages.count_tokens(model=model, messages=messages)  # type: ignore[arg-type]
        body = {"model": model, "messages": messages}
        assert count.input_tokens == prompt_tokens(body, "sim-gpt" if model == "gpt-test" else
                                                   "sim-gemini") > 5  # fmt: skip
    assert sim_records(sim, tag) == []  # nothing went upstream
    with pytest.raises(anthropic.NotFoundError):
        client.messages.count_tokens(model="nope", messages=messages)  # type: ignore[arg-type]
    with pytest.raises(anthropic.BadRequestError) as caught:
        client.messages.count_tokens(model="gpt-test", messages="x")  # type: ignore[arg-type]
    assert caught.value.body["type"] == "error"  # type: ignore[index]


def test_count_tokens_needs_a_key(front: ServerProcess, tmp_path: Path) -> None:
    client = anthropic.Anthropic(base_url=front.url, api_key="wrong", max_retries=0)
    with pytest.raises(anthropic.AuthenticationError) as caught:
        client.messages.count_tokens(model="gpt-test", messages=[{"role": "user", "content": "x"}])
    assert caught.value.body["error"]["type"] == "authentication_error"  # type: ignore[index]
