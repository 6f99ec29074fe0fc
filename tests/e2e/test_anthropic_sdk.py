"""The real `anthropic` SDK against `/v1/messages`: natively relayed to an Anthropic-kind
model, and translated to OpenAI- and Gemini-kind models."""

from __future__ import annotations

import anthropic
import httpx
import pytest

from tests.conftest import sim_records
from tests.servers import SIM_KEY

from .vendors import ANTHROPIC_TOOLS, new_tag, one_record, say

TRANSLATED = ["gpt-test", "gemini-test"]
ALL = ["claude-test", *TRANSLATED]


@pytest.fixture
def claude(gateway) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=gateway.url, api_key="key-chat", max_retries=0, timeout=10)


@pytest.mark.parametrize("model", ALL)
def test_non_stream(claude: anthropic.Anthropic, sim, model: str) -> None:
    tag = new_tag()
    raw = claude.messages.with_raw_response.create(
        model=model,
        max_tokens=100,
        system="be brief",
        messages=[{"role": "user", "content": say(tag)}],
    )
    message = raw.parse()
    assert raw.headers["x-gateway-request-id"]
    assert message.type == "message" and message.role == "assistant"
    assert message.stop_reason == "end_turn"
    assert len(message.content[0].text.split()) == 12
    assert (message.usage.input_tokens, message.usage.output_tokens) == (6, 12)
    record = one_record(sim, tag)
    assert record["api_key"] == SIM_KEY  # the provider's key, not the client's
    assert (
        record["api"]
        == {"claude-test": "anthropic", "gpt-test": "openai", "gemini-test": "gemini"}[model]
    )


@pytest.mark.parametrize("model", ALL)
def test_stream_text_and_usage(claude: anthropic.Anthropic, model: str) -> None:
    with claude.messages.stream(
        model=model, max_tokens=100, messages=[{"role": "user", "content": say(new_tag())}]
    ) as s:
        text = "".join(s.text_stream)
        final = s.get_final_message()
    assert len(text.split()) == 12
    assert final.stop_reason == "end_turn"
    assert (final.usage.input_tokens, final.usage.output_tokens) == (4, 12)


def test_native_stream_is_relayed_byte_for_byte(gateway, sim) -> None:
    """The native path forwards the upstream's events untouched, ping included."""
    tag = new_tag()
    body = {
        "model": "claude-test",
        "max_tokens": 50,
        "stream": True,
        "messages": [{"role": "user", "content": say(tag, "tokens=3")}],
    }
    with httpx.stream(
        "POST", f"{gateway.url}/v1/messages", json=body, headers={"x-api-key": "key-chat"}
    ) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        relayed = response.read().decode()
    direct = httpx.post(
        f"{sim.url}/v1/messages",
        json=dict(body, model="sim-claude"),
        headers={"x-api-key": SIM_KEY},
    ).text
    assert relayed.count("event: ping") == 1
    assert (
        relayed.replace("sim-claude", "x").split("msg_sim")[0]
        == direct.replace("sim-claude", "x").split("msg_sim")[0]
    )
    assert relayed.endswith('event: message_stop\ndata: {"type":"message_stop"}\n\n')


def test_native_passthrough_keeps_fields_translation_would_refuse(claude, sim) -> None:
    tag = new_tag()
    claude.messages.create(
        model="claude-test",
        max_tokens=20,
        extra_body={"top_k": 5},
        metadata={"user_id": "u1"},
        messages=[{"role": "user", "content": say(tag, "tokens=2")}],
    )
    assert {"top_k", "metadata"} <= set(one_record(sim, tag)["body_keys"])
    with pytest.raises(anthropic.BadRequestError) as info:
        claude.messages.create(
            model="gpt-test",
            max_tokens=20,
            extra_body={"top_k": 5},
            messages=[{"role": "user", "content": "hi"}],
        )
    assert info.value.body["error"]["type"] == "invalid_request_error"
    assert "'top_k' cannot be translated to the OpenAI API" in info.value.message


@pytest.mark.parametrize("model", ALL)
def test_tool_calls_stream_and_reassemble(claude: anthropic.Anthropic, model: str) -> None:
    with claude.messages.stream(
        model=model,
        max_tokens=100,
        tools=ANTHROPIC_TOOLS,
        messages=[{"role": "user", "content": say(new_tag(), "tool_calls=2")}],
    ) as s:
        partial = [e.partial_json for e in s if e.type == "input_json"]
        final = s.get_final_message()
    assert final.stop_reason == "tool_use"
    calls = [block for block in final.content if block.type == "tool_use"]
    assert [c.name for c in calls] == ["get_weather", "get_weather"]
    assert [c.input for c in calls] == [
        {"location": "San Francisco", "unit": "Paris"},
        {"location": "Paris", "unit": "Tokyo"},
    ]
    assert len({c.id for c in calls}) == 2
    assert len(partial) >= 2  # the arguments arrived as input_json_delta fragments


@pytest.mark.parametrize("model", ALL)
def test_tool_use_round_trip(claude: anthropic.Anthropic, model: str) -> None:
    """A tool call, its result sent back, and a final text answer, in Anthropic's shapes."""
    first = claude.messages.create(
        model=model,
        max_tokens=100,
        tools=ANTHROPIC_TOOLS,
        tool_choice={"type": "tool", "name": "get_weather"},
        messages=[{"role": "user", "content": "Weather in Oslo?"}],
    )
    (call,) = [b for b in first.content if b.type == "tool_use"]
    answer = claude.messages.create(
        model=model,
        max_tokens=100,
        tools=ANTHROPIC_TOOLS,
        messages=[
            {"role": "user", "content": "Weather in Oslo?"},
            {"role": "assistant", "content": first.content},
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": call.id, "content": "rain, 4 degrees"}
                ],
            },
        ],
    )
    assert answer.stop_reason == "end_turn" and answer.content[0].type == "text"
    if model != "gemini-test":  # the simulator's Gemini word count skips functionResponse
        assert answer.usage.input_tokens > first.usage.input_tokens  # the result went along


def test_image_reaches_the_model(claude: anthropic.Anthropic, sim) -> None:
    tag = new_tag()
    image = {
        "type": "image",
        "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="},
    }
    for model in ALL:
        claude.messages.create(
            model=model,
            max_tokens=10,
            messages=[
                {"role": "user", "content": [image, {"type": "text", "text": say(tag, "tokens=1")}]}
            ],
        )
    assert [r["status_code"] for r in sim_records(sim, tag)] == [200, 200, 200]


@pytest.mark.parametrize(
    ("model", "error", "expected", "status"),
    [
        ("claude-test", "overloaded", anthropic.OverloadedError, 529),
        ("gemini-test", "overloaded", anthropic.OverloadedError, 529),
        ("claude-test", "429", anthropic.RateLimitError, 429),
        ("gpt-test", "429", anthropic.RateLimitError, 429),
        ("gpt-test", "500", anthropic.InternalServerError, 500),
    ],
)
def test_upstream_errors_in_anthropic_shape(
    claude: anthropic.Anthropic, model: str, error: str, expected: type, status: int
) -> None:
    for stream in (False, True):
        with pytest.raises(expected) as info:
            claude.messages.create(
                model=model,
                max_tokens=10,
                stream=stream,
                messages=[{"role": "user", "content": say(new_tag(), f"error={error}")}],
            )
        assert info.value.status_code == status
        assert info.value.body["type"] == "error"
        assert SIM_KEY not in info.value.response.text


@pytest.mark.parametrize(
    ("model", "kind"),
    [
        ("claude-test", "overloaded_error"),  # relayed as Anthropic sent it
        ("gemini-test", "overloaded_error"),  # Gemini's UNAVAILABLE
        ("gpt-test", "api_error"),  # OpenAI's server_error
    ],
)
def test_mid_stream_error_is_an_error_event(
    claude: anthropic.Anthropic, model: str, kind: str
) -> None:
    text = []
    with pytest.raises(anthropic.APIStatusError) as info:  # noqa: PT012
        with claude.messages.stream(
            model=model,
            max_tokens=100,
            messages=[{"role": "user", "content": say(new_tag(), "error=mid_stream")}],
        ) as s:
            text.extend(s.text_stream)
    assert len(text) == 2  # what came before the failure was relayed
    assert info.value.body["type"] == "error"
    assert info.value.body["error"]["type"] == kind


def test_gateway_errors_in_anthropic_shape(claude: anthropic.Anthropic, gateway) -> None:
    with pytest.raises(anthropic.NotFoundError) as info:
        claude.messages.create(
            model="no-such-model", max_tokens=5, messages=[{"role": "user", "content": "hi"}]
        )
    assert info.value.body["error"]["type"] == "not_found_error"
    assert "no-such-model" in info.value.body["error"]["message"]
    stranger = anthropic.Anthropic(base_url=gateway.url, api_key="wrong", max_retries=0)
    with pytest.raises(anthropic.AuthenticationError) as auth:
        stranger.messages.create(
            model="claude-test", max_tokens=5, messages=[{"role": "user", "content": "hi"}]
        )
    assert auth.value.body["error"]["type"] == "authentication_error"
    missing = httpx.post(
        f"{gateway.url}/v1/messages",
        headers={"x-api-key": "key-chat"},
        json={"model": "claude-test", "messages": []},
    )
    assert missing.status_code == 400
    assert missing.json() == {
        "type": "error",
        "error": {"type": "invalid_request_error", "message": "max_tokens: Field required"},
    }
