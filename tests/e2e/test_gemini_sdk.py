"""The real `google-genai` SDK with its `base_url` pointed at the gateway: generate (whole and
streamed), count tokens, embed, tools, structured output and abort, against a Gemini-kind model
(relayed natively) and OpenAI- and Anthropic-kind models (translated)."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pydantic
import pytest
from google import genai
from google.genai import errors, types

from gateway.ledger.prompts import prompt_tokens
from tests.servers import SIM_KEY

from .vendors import ADMIN_KEY, closed_record, ledger_record, new_tag, one_record, say, tokens_after

MODELS = ["gemini-test", "gpt-test", "claude-test"]
API = {"gemini-test": "gemini", "gpt-test": "openai", "claude-test": "anthropic"}


def client(gateway: Any, key: str = "key-chat", version: str | None = None) -> genai.Client:
    options: dict[str, Any] = {"base_url": gateway.url, "timeout": 10_000}
    if version:
        options["api_version"] = version
    return genai.Client(api_key=key, http_options=options)


@pytest.fixture
def gem(gateway: Any) -> genai.Client:
    return client(gateway)


def call_id(response: Any) -> str:
    return response.sdk_http_response.headers["x-gateway-request-id"]


@pytest.mark.parametrize("model", MODELS)
def test_generate_content(gem: genai.Client, gateway: Any, sim: Any, model: str) -> None:
    tag = new_tag()
    response = gem.models.generate_content(
        model=model,
        contents=say(tag),
        config=types.GenerateContentConfig(system_instruction="be brief", max_output_tokens=50),
    )
    assert len((response.text or "").split()) == 12
    assert response.candidates[0].finish_reason == types.FinishReason.STOP  # type: ignore[index]
    usage = response.usage_metadata
    assert usage is not None and (usage.prompt_token_count, usage.candidates_token_count) == (
        6,
        12,
    )
    record = one_record(sim, tag)
    assert record["api"] == API[model] and record["api_key"] == SIM_KEY
    row = ledger_record(gateway, call_id(response))
    assert (row["route"], row["mode"], row["status"], row["model"]) == (
        "gemini", "sync", "completed", model)  # fmt: skip
    assert (row["prompt_tokens"], row["completion_tokens"]) == (6, 12)


@pytest.mark.parametrize("model", MODELS)
def test_generate_content_stream(gateway: Any, sim: Any, model: str) -> None:
    tag = new_tag()
    beta = client(gateway, version="v1beta")  # both API versions are served
    chunks = list(beta.models.generate_content_stream(model=model, contents=say(tag)))
    text = "".join(c.text or "" for c in chunks)
    assert len(text.split()) == 12 and len(chunks) > 3
    last = chunks[-1]
    assert last.candidates[0].finish_reason == types.FinishReason.STOP  # type: ignore[index]
    assert last.usage_metadata.candidates_token_count == 12  # type: ignore[union-attr]
    assert one_record(sim, tag)["stream"] is True
    row = ledger_record(gateway, call_id(chunks[0]))
    assert (row["route"], row["mode"], row["status"]) == ("gemini", "stream", "completed")


def test_native_stream_is_relayed_not_re_encoded(gateway: Any, sim: Any) -> None:
    url = f"{gateway.url}/v1beta/models/gemini-test:streamGenerateContent"
    body = {"contents": [{"role": "user", "parts": [{"text": say(new_tag())}]}]}
    headers = {"x-goog-api-key": "key-chat"}
    with httpx.stream("POST", url, params={"alt": "sse"}, json=body, headers=headers) as response:
        events = [line for line in response.iter_lines() if line.startswith("data: ")]
    assert len(events) == 12
    # the simulator's own ids and framing: an encoder would have written the gateway's call id
    assert all('"responseId":"sim' in event for event in events)


def test_count_tokens(gem: genai.Client, sim: Any) -> None:
    tag = new_tag()
    native = gem.models.count_tokens(model="gemini-test", contents=f"one two three [sim tag={tag}]")
    assert native.total_tokens == 5  # the simulator's own count
    assert one_record(sim, tag)["path"] == "/v1beta/models/sim-gemini:countTokens"
    counted = gem.models.count_tokens(model="gpt-test", contents="one two three")
    body = {"contents": [{"parts": [{"text": "one two three"}], "role": "user"}]}
    assert counted.total_tokens == prompt_tokens(body, "sim-gpt") == 3


def two_texts() -> list[Any]:
    """Two contents: two embeddings (a list of plain strings is one content of two parts)."""
    return [types.Content(parts=[types.Part(text=text)]) for text in ("alpha", "beta")]


def test_embed_content(gem: genai.Client, gateway: Any, sim: Any) -> None:
    native = gem.models.embed_content(model="gemini-test", contents=two_texts())
    assert [len(e.values or []) for e in native.embeddings or []] == [16, 16]
    translated = gem.models.embed_content(
        model="embed-test",
        contents=two_texts(),
        config=types.EmbedContentConfig(output_dimensionality=4),
    )
    vectors = [e.values for e in translated.embeddings or []]
    assert [len(v or []) for v in vectors] == [4, 4] and vectors[0] != vectors[1]
    row = ledger_record(gateway, call_id(translated))
    assert (row["route"], row["model"], row["prompt_tokens"]) == ("gemini_batch_embed",
                                                                   "embed-test", 2)  # fmt: skip
    with pytest.raises(errors.ClientError) as caught:
        gem.models.embed_content(model="claude-test", contents=["alpha"])
    assert caught.value.code == 400 and caught.value.status == "INVALID_ARGUMENT"
    single = httpx.post(  # embedContent, which the SDK does not use for the Gemini API
        f"{gateway.url}/v1beta/models/embed-test:embedContent",
        headers={"x-goog-api-key": "key-chat"},
        json={"content": {"parts": [{"text": "alpha"}]}},
    )
    assert single.status_code == 200 and len(single.json()["embedding"]["values"]) == 16


def test_keys_and_errors_in_gemini_shape(gem: genai.Client, gateway: Any) -> None:
    wrong = client(gateway, key="wrong")  # held: a dropped client closes its connection pool
    with pytest.raises(errors.ClientError) as caught:
        wrong.models.generate_content(model="gemini-test", contents="hi")
    assert caught.value.code == 401 and caught.value.status == "UNAUTHENTICATED"
    with pytest.raises(errors.ClientError) as caught:
        gem.models.generate_content(model="no-such-model", contents="hi")
    assert caught.value.code == 404 and caught.value.status == "NOT_FOUND"
    url = f"{gateway.url}/v1beta/models/gemini-test:generateContent"
    body = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}
    assert httpx.post(url, params={"key": "key-chat"}, json=body).status_code == 200
    bad = httpx.post(url, params={"key": "wrong"}, json=body)
    assert bad.status_code == 401 and set(bad.json()["error"]) == {"code", "message", "status"}
    refused = httpx.post(
        url.replace("gemini-test", "gpt-test"),
        params={"key": "key-chat"},
        json={**body, "cachedContent": "cachedContents/x"},
    )
    assert refused.status_code == 400 and "cachedContent" in refused.json()["error"]["message"]
    assert "key-chat" not in gateway.output()  # the ?key= query is never logged


def get_weather(city: str, days: int) -> dict[str, Any]:
    """The weather forecast for a city."""
    return {"city": city, "days": days, "sky": "sunny"}


@pytest.mark.parametrize("model", MODELS)
def test_tool_round_trip_with_automatic_function_calling(gem: genai.Client, model: str) -> None:
    calls: list[tuple[str, int]] = []

    def weather(city: str, days: int) -> dict[str, Any]:
        """The weather forecast for a city."""
        calls.append((city, days))
        return get_weather(city, days)

    response = gem.models.generate_content(
        model=model,
        contents="what is the weather in Paris?",
        config=types.GenerateContentConfig(
            tools=[weather],
            tool_config=types.ToolConfig(
                function_calling_config=types.FunctionCallingConfig(mode="ANY")
            ),
        ),
    )
    assert len(calls) == 1 and isinstance(calls[0][1], int)  # called once, typed arguments
    assert response.text and not response.function_calls  # the loop ended in text
    history = response.automatic_function_calling_history or []
    assert [c.role for c in history] == ["user", "model", "user"]


class Reading(pydantic.BaseModel):
    city: str
    temperature: float
    days: list[int]


@pytest.mark.parametrize("model", ["gemini-test", "gpt-test"])
def test_structured_output(gem: genai.Client, model: str) -> None:
    response = gem.models.generate_content(
        model=model,
        contents="a reading",
        config=types.GenerateContentConfig(
            response_mime_type="application/json", response_schema=Reading
        ),
    )
    assert isinstance(response.parsed, Reading)


@pytest.mark.parametrize("model", ["gemini-test", "gpt-test"])
def test_abort_of_a_stream_reaches_the_simulator(
    gem: genai.Client, gateway: Any, sim: Any, model: str
) -> None:
    tag = new_tag()
    stream = gem.models.generate_content_stream(model=model, contents=say(tag, "tps=20 tokens=200"))
    first = next(stream)
    for _ in range(2):
        next(stream)
    stream.close()  # type: ignore[attr-defined]
    left_at = time.time()
    record = closed_record(sim, tag)
    assert record["completed"] is False and tokens_after(record, left_at) <= 1
    row = ledger_record(gateway, call_id(first))
    assert row["status"] == "cancelled" and row["cancel_reason"] == "client_disconnect"


def test_batch_lane_deferral(gateway: Any) -> None:
    """Gemini-kind models take the emulated lane (the translated ones: tests/batch)."""
    response = httpx.post(
        f"{gateway.url}/v1beta/models/gemini-test:generateContent",
        headers={"x-goog-api-key": "key-chat", "x-gateway-mode": "batch"},
        json={"contents": [{"role": "user", "parts": [{"text": "later please"}]}]},
    )
    assert response.status_code == 202 and response.json()["status"] == "queued"
    deadline = time.monotonic() + 20
    while True:
        record = httpx.get(
            f"{gateway.url}/v1/gateway/requests/{response.json()['id']}",
            headers={"authorization": f"Bearer {ADMIN_KEY}"},
        ).json()
        if record["status"] == "completed" or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert record["status"] == "completed" and record["route"] == "gemini"
    parts = record["response"]["candidates"][0]["content"]["parts"]
    assert len(parts[0]["text"].split()) == 12
