"""Injected failures and refusals, in each API's error shape."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import openai
import pytest

from .conftest import RunningSim, start_sim
from .helpers import directive, new_tag


@pytest.fixture
def client(sim: RunningSim) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{sim.url}/v1", api_key="k", max_retries=0)


def chat(client: openai.OpenAI, text: str, **kwargs):
    return client.chat.completions.create(
        model="m", messages=[{"role": "user", "content": text}], **kwargs
    )


def test_429_rate_limit(client: openai.OpenAI, sim: RunningSim) -> None:
    tag = new_tag()
    with pytest.raises(openai.RateLimitError) as caught:
        chat(client, directive(error=429, tag=tag))
    assert caught.value.status_code == 429
    assert caught.value.response.headers["retry-after"] == "1"
    assert caught.value.code == "rate_limit_exceeded"
    record = sim.record(tag)
    assert (record["status_code"], record["error"], record["completed"]) == (429, "429", False)


@pytest.mark.parametrize(("error", "status"), [("500", 500), ("503", 503), ("overloaded", 503)])
def test_server_errors(client: openai.OpenAI, error: str, status: int) -> None:
    with pytest.raises(openai.InternalServerError) as caught:
        chat(client, directive(error=error))
    assert caught.value.status_code == status
    body = caught.value.response.json()
    assert set(body["error"]) == {"message", "type", "param", "code"}
    assert body["error"]["type"] == "server_error"


def test_mid_stream_error_after_n_tokens(client: openai.OpenAI, sim: RunningSim) -> None:
    tag = new_tag()
    stream = chat(client, directive(error="mid_stream", error_after=3, tag=tag), stream=True)
    received = []
    with pytest.raises(openai.APIError) as caught:
        for chunk in stream:
            received.append(chunk.choices[0].delta.content)
    assert "mid-stream" in caught.value.message
    assert [text for text in received if text] == [" the", " model", " is"]
    record = sim.record(tag)
    assert record["tokens_sent"] == 3
    assert record["completed"] is False
    assert record["status_code"] == 200


def test_mid_stream_raw_ends_without_done(sim: RunningSim) -> None:
    body = {"model": "m", "stream": True, "messages": [{"role": "user", "content": ""}]}
    body["messages"][0]["content"] = directive(error="mid_stream")
    response = httpx.post(f"{sim.url}/v1/chat/completions", json=body)
    events = [e for e in response.text.split("\n\n") if e]
    assert events[-1].startswith('data: {"error":')
    assert "[DONE]" not in response.text
    assert sum('"content":" ' in e for e in events) == 2


def test_mid_stream_on_non_stream_call_is_500(client: openai.OpenAI) -> None:
    with pytest.raises(openai.InternalServerError):
        chat(client, directive(error="mid_stream"))


def test_malformed_json_is_400(sim: RunningSim) -> None:
    response = httpx.post(
        f"{sim.url}/v1/chat/completions",
        content=b"{not json",
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_request_error"


def test_bad_directive_is_400(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        chat(client, "[sim tokens=many]")
    assert "tokens" in caught.value.message


def test_unknown_route_is_404(sim: RunningSim) -> None:
    assert httpx.get(f"{sim.url}/v1/nothing").status_code == 404


def test_error_rate_answers_some_calls_500(sim_factory) -> None:
    flaky = sim_factory(ttft_ms=0, tokens_per_second=0, error_rate=0.5)
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
    with httpx.Client(base_url=flaky.url) as http:
        statuses = [http.post("/v1/chat/completions", json=body).status_code for _ in range(60)]
    assert set(statuses) == {200, 500}
    assert 10 <= statuses.count(500) <= 50
    assert sum(r["error"] == "500" for r in flaky.stats()) == statuses.count(500)


@pytest.fixture(scope="module")
def locked() -> Iterator[RunningSim]:
    running = start_sim(ttft_ms=0, tokens_per_second=0, require_key="secret")
    yield running
    running.stop()


class TestRequireKey:
    """`--require-key`: each API's own header, else 401 in that API's shape."""

    def test_openai_bearer(self, locked: RunningSim) -> None:
        good = openai.OpenAI(base_url=f"{locked.url}/v1", api_key="secret", max_retries=0)
        assert chat(good, "hi").choices[0].message.content
        bad = openai.OpenAI(base_url=f"{locked.url}/v1", api_key="wrong", max_retries=0)
        with pytest.raises(openai.AuthenticationError):
            chat(bad, "hi")
        keys = [r["api_key"] for r in locked.stats()[-2:]]
        assert keys == ["secret", "wrong"]

    def test_anthropic_x_api_key(self, locked: RunningSim) -> None:
        body = {"model": "c", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}
        url = f"{locked.url}/v1/messages"
        assert httpx.post(url, json=body, headers={"x-api-key": "secret"}).status_code == 200
        refused = httpx.post(url, json=body, headers={"x-api-key": "nope"})
        assert refused.status_code == 401
        assert refused.json() == {
            "type": "error",
            "error": {"type": "authentication_error", "message": "Invalid API key (simulated)"},
        }

    def test_gemini_header_or_query_key(self, locked: RunningSim) -> None:
        body = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}
        url = f"{locked.url}/v1beta/models/g:generateContent"
        assert httpx.post(url, json=body, headers={"x-goog-api-key": "secret"}).is_success
        assert httpx.post(url, json=body, params={"key": "secret"}).is_success
        refused = httpx.post(url, json=body)
        assert refused.status_code == 401
        assert refused.json()["error"]["status"] == "UNAUTHENTICATED"

    def test_refused_call_is_recorded_with_tag_and_key(self, locked: RunningSim) -> None:
        tag = new_tag()
        response = httpx.post(
            f"{locked.url}/v1/chat/completions",
            headers={"authorization": "Bearer leaked"},
            json={"model": "m", "messages": [{"role": "user", "content": directive(tag=tag)}]},
        )
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "invalid_api_key"
        record = locked.record(tag)
        assert (record["api_key"], record["status_code"], record["model"]) == ("leaked", 401, "m")
        assert record["completed"] is False
