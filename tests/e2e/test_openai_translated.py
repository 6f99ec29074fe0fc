"""The real `openai` SDK against Anthropic- and Gemini-kind models: chat completions
translated both ways, stream and whole, tools, usage, errors and refusals."""

from __future__ import annotations

import json

import httpx
import openai
import pytest

from tests.servers import SIM_KEY

from .vendors import OPENAI_TOOLS, new_tag, one_record, say

MODELS = ["claude-test", "gemini-test"]
API = {"claude-test": "anthropic", "gemini-test": "gemini"}


@pytest.mark.parametrize("model", MODELS)
def test_non_stream(client: openai.OpenAI, sim, model: str) -> None:
    tag = new_tag()
    raw = client.chat.completions.with_raw_response.create(
        model=model,
        messages=[{"role": "system", "content": "be brief"}, {"role": "user", "content": say(tag)}],
    )
    completion = raw.parse()
    assert completion.object == "chat.completion" and completion.model == model
    assert completion.id == f"chatcmpl-{raw.headers['x-gateway-request-id']}"
    assert completion.choices[0].finish_reason == "stop"
    assert len(completion.choices[0].message.content.split()) == 12
    assert (completion.usage.prompt_tokens, completion.usage.completion_tokens) == (6, 12)
    record = one_record(sim, tag)
    assert (record["api"], record["api_key"]) == (API[model], SIM_KEY)
    assert record["model"] == {"claude-test": "sim-claude", "gemini-test": "sim-gemini"}[model]


@pytest.mark.parametrize("model", MODELS)
def test_stream_without_usage_unless_asked(client: openai.OpenAI, model: str) -> None:
    chunks = list(
        client.chat.completions.create(
            model=model, stream=True, messages=[{"role": "user", "content": say(new_tag())}]
        )
    )
    assert all(c.choices for c in chunks), "a usage chunk reached a client that did not ask"
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks)
    assert len(text.split()) == 12
    assert chunks[-1].choices[0].finish_reason == "stop"
    asked = list(
        client.chat.completions.create(
            model=model,
            stream=True,
            stream_options={"include_usage": True},
            messages=[{"role": "user", "content": say(new_tag())}],
        )
    )
    assert asked[-1].choices == []
    assert (asked[-1].usage.prompt_tokens, asked[-1].usage.completion_tokens) == (4, 12)


@pytest.mark.parametrize("model", MODELS)
def test_tool_call_stream(client: openai.OpenAI, model: str) -> None:
    stream = client.chat.completions.create(
        model=model,
        stream=True,
        tools=OPENAI_TOOLS,
        messages=[{"role": "user", "content": say(new_tag(), "tool_calls=2")}],
    )
    calls: dict[int, dict] = {}
    fragments = 0
    finish = None
    for chunk in stream:
        for choice in chunk.choices:
            finish = choice.finish_reason or finish
            for delta in choice.delta.tool_calls or ():
                entry = calls.setdefault(delta.index, {"id": None, "name": "", "arguments": ""})
                entry["id"] = delta.id or entry["id"]
                entry["name"] += delta.function.name or ""
                if delta.function.arguments:
                    entry["arguments"] += delta.function.arguments
                    fragments += 1
    assert finish == "tool_calls"
    assert sorted(calls) == [0, 1]
    assert [json.loads(calls[i]["arguments"]) for i in (0, 1)] == [
        {"location": "San Francisco", "unit": "Paris"},
        {"location": "Paris", "unit": "Tokyo"},
    ]
    assert all(c["name"] == "get_weather" and c["id"] for c in calls.values())
    # Anthropic streams argument fragments; Gemini's whole args become one fragment each.
    assert fragments > 2 if model == "claude-test" else fragments == 2


@pytest.mark.parametrize("model", MODELS)
def test_tool_round_trip(client: openai.OpenAI, model: str) -> None:
    messages = [{"role": "user", "content": "Weather in Oslo and Lima?"}]
    first = client.chat.completions.create(
        model=model, tools=OPENAI_TOOLS, tool_choice="required", messages=messages
    )
    message = first.choices[0].message
    assert first.choices[0].finish_reason == "tool_calls" and message.tool_calls
    messages.append(message.model_dump(exclude_none=True))
    messages.extend(
        {"role": "tool", "tool_call_id": call.id, "content": "rain"} for call in message.tool_calls
    )
    answer = client.chat.completions.create(model=model, tools=OPENAI_TOOLS, messages=messages)
    assert answer.choices[0].finish_reason == "stop" and answer.choices[0].message.content


@pytest.mark.parametrize(
    ("model", "error", "expected", "status", "kind"),
    [
        ("claude-test", "overloaded", openai.InternalServerError, 503, "overloaded_error"),
        ("gemini-test", "overloaded", openai.InternalServerError, 503, "overloaded_error"),
        ("claude-test", "429", openai.RateLimitError, 429, "rate_limit_error"),
        ("gemini-test", "429", openai.RateLimitError, 429, "rate_limit_error"),
        ("claude-test", "500", openai.InternalServerError, 500, "api_error"),
    ],
)
def test_upstream_errors_in_openai_shape(
    client: openai.OpenAI, model: str, error: str, expected: type, status: int, kind: str
) -> None:
    for stream in (False, True):
        with pytest.raises(expected) as info:
            client.chat.completions.create(
                model=model,
                stream=stream,
                messages=[{"role": "user", "content": say(new_tag(), f"error={error}")}],
            )
        assert info.value.status_code == status
        assert info.value.type == kind
        assert SIM_KEY not in info.value.response.text


@pytest.mark.parametrize("model", MODELS)
def test_mid_stream_error(client: openai.OpenAI, model: str) -> None:
    received = []
    with pytest.raises(openai.APIError) as info:  # noqa: PT012
        for chunk in client.chat.completions.create(
            model=model,
            stream=True,
            messages=[{"role": "user", "content": say(new_tag(), "error=mid_stream")}],
        ):
            received.extend(c.delta.content for c in chunk.choices if c.delta.content)
    assert len(received) == 2
    assert "Overloaded" in info.value.message


def test_unknown_model_is_openai_404(client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as info:
        client.chat.completions.create(
            model="claude-nope", messages=[{"role": "user", "content": "hi"}]
        )
    assert info.value.code == "model_not_found"


AUDIO_PART = {"type": "input_audio", "input_audio": {"data": "AAAA", "format": "wav"}}


@pytest.mark.parametrize(
    ("model", "extra", "param"),
    [
        ("claude-test", {"n": 2}, "n"),
        ("gemini-test", {"logprobs": True, "top_logprobs": 2}, "logprobs"),
        ("claude-test", {"seed": 3}, "seed"),
        ("claude-test", {"response_format": {"type": "json_object"}}, "response_format"),
        (
            "claude-test",
            {"messages": [{"role": "user", "content": [AUDIO_PART]}]},
            "messages[0].content[0]",
        ),
        (
            "gemini-test",
            {
                "messages": [
                    {
                        "role": "user",
                        "content": [
                            {
                                "type": "image_url",
                                "image_url": {"url": "https://example.com/cat.png"},
                            }
                        ],
                    }
                ]
            },
            "messages[0].content[0]",
        ),
    ],
)
def test_untranslatable_fields_are_refused(
    client: openai.OpenAI, model: str, extra: dict, param: str
) -> None:
    body = {"messages": [{"role": "user", "content": "hi"}], **extra}
    messages = body.pop("messages")
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model=model, messages=messages, extra_body=body)
    assert info.value.param == param
    assert f"'{param}' cannot be translated" in info.value.message


def test_json_mode_translates_to_gemini(client: openai.OpenAI, sim) -> None:
    tag = new_tag()
    client.chat.completions.create(
        model="gemini-test",
        response_format={"type": "json_object"},
        seed=4,
        messages=[{"role": "user", "content": say(tag, "tokens=2")}],
    )
    assert "generationConfig" in one_record(sim, tag)["body_keys"]


@pytest.mark.parametrize("route", ["embeddings", "completions"])
def test_other_routes_to_other_vendors_are_refused(gateway, route: str) -> None:
    body = {"model": "claude-test", "input": "x", "prompt": "x"}
    response = httpx.post(
        f"{gateway.url}/v1/{route}", json=body, headers={"authorization": "Bearer key-chat"}
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["param"] == "model" and "use /v1/chat/completions" in error["message"]
