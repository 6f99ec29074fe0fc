"""Request translation: what each client API's body becomes upstream, and what is refused
with a 400 naming the field (never dropped silently)."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from gateway.config import ModelConfig
from gateway.errors import BadRequest
from gateway.providers.anthropic import messages_body
from gateway.providers.gemini import generate_body
from gateway.providers.openai_chat import chat_body
from gateway.translate.anthropic_request import decode_messages
from gateway.translate.openai_request import decode_chat

from .helpers import provider

PNG = "iVBORw0KGgo="
WEATHER = {"type": "object", "properties": {"location": {"type": "string"}}}

OPENAI_CHAT: dict[str, Any] = {
    "model": "claude-test",
    "max_tokens": 300,
    "temperature": 0.2,
    "stop": "END",
    "messages": [
        {"role": "system", "content": "Be brief."},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "Weather where this is?"},
                {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
                {"type": "image_url", "image_url": {"url": "https://example.com/a.jpg"}},
            ],
        },
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"location":"Oslo"}'},
                },
                {
                    "id": "call_2",
                    "type": "function",
                    "function": {"name": "get_time", "arguments": "{}"},
                },
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "rain"},
        {"role": "tool", "tool_call_id": "call_2", "content": [{"type": "text", "text": "9am"}]},
        {"role": "user", "content": "Thanks"},
    ],
    "tools": [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "w",
                "parameters": WEATHER,
                "strict": True,
            },
        }
    ],
    "tool_choice": "required",
}


def test_openai_chat_to_anthropic_messages() -> None:
    chat = decode_chat(dict(OPENAI_CHAT, parallel_tool_calls=False), "anthropic")
    body = messages_body(chat, "claude-up")
    assert body["model"] == "claude-up" and body["system"] == "Be brief."
    assert (body["max_tokens"], body["temperature"], body["stop_sequences"]) == (300, 0.2, ["END"])
    user, assistant, results = body["messages"][:3]
    assert [b["type"] for b in user["content"]] == ["text", "image", "image"]
    assert user["content"][1]["source"] == {
        "type": "base64",
        "media_type": "image/png",
        "data": PNG,
    }
    assert user["content"][2]["source"] == {"type": "url", "url": "https://example.com/a.jpg"}
    assert assistant["content"] == [
        {"type": "tool_use", "id": "call_1", "name": "get_weather", "input": {"location": "Oslo"}},
        {"type": "tool_use", "id": "call_2", "name": "get_time", "input": {}},
    ]
    # both tool messages and the next user text land in one user turn
    assert results["role"] == "user" and len(body["messages"]) == 3
    assert [b["type"] for b in results["content"]] == ["tool_result", "tool_result", "text"]
    assert results["content"][1]["content"] == [{"type": "text", "text": "9am"}]
    assert body["tools"] == [{"name": "get_weather", "input_schema": WEATHER, "description": "w"}]
    assert body["tool_choice"] == {"type": "any", "disable_parallel_tool_use": True}


def test_openai_chat_to_gemini() -> None:
    chat = dict(OPENAI_CHAT, tool_choice={"type": "function", "function": {"name": "get_weather"}})
    chat["messages"] = [m for m in chat["messages"] if m["role"] != "user"] + [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "look"},
                {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
            ],
        }
    ]
    body = generate_body(decode_chat(chat, "gemini"))
    assert body["systemInstruction"] == {"parts": [{"text": "Be brief."}]}
    assert body["generationConfig"] == {
        "maxOutputTokens": 300,
        "temperature": 0.2,
        "stopSequences": ["END"],
    }
    model, answers = body["contents"]
    assert model == {
        "role": "model",
        "parts": [
            {"functionCall": {"name": "get_weather", "args": {"location": "Oslo"}}},
            {"functionCall": {"name": "get_time", "args": {}}},
        ],
    }
    # Gemini answers a call by the function's name, found from the call id; the answers to
    # parallel calls and the next user turn are merged into one content
    assert answers["role"] == "user"
    assert answers["parts"][0] == {
        "functionResponse": {"name": "get_weather", "response": {"output": "rain"}}
    }
    assert answers["parts"][1]["functionResponse"]["name"] == "get_time"
    assert answers["parts"][3] == {"inlineData": {"mimeType": "image/png", "data": PNG}}
    assert body["tools"] == [
        {
            "functionDeclarations": [
                {"name": "get_weather", "parametersJsonSchema": WEATHER, "description": "w"}
            ]
        }
    ]
    assert body["toolConfig"] == {
        "functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["get_weather"]}
    }


ANTHROPIC_MESSAGES: dict[str, Any] = {
    "model": "gpt-test",
    "max_tokens": 200,
    "system": [{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}],
    "stop_sequences": ["END"],
    "metadata": {"user_id": "u-42"},
    "messages": [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "What is this?"},
                {
                    "type": "image",
                    "source": {"type": "base64", "media_type": "image/png", "data": PNG},
                },
            ],
        },
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "Checking."},
                {"type": "tool_use", "id": "toolu_1", "name": "lookup", "input": {"q": "x"}},
            ],
        },
        {
            "role": "user",
            "content": [
                {
                    "type": "tool_result",
                    "tool_use_id": "toolu_1",
                    "content": "not found",
                    "is_error": True,
                },
                {"type": "text", "text": "Try again"},
            ],
        },
    ],
    "tools": [{"name": "lookup", "description": "find", "input_schema": WEATHER}],
    "tool_choice": {"type": "tool", "name": "lookup"},
}


def test_anthropic_messages_to_openai_chat() -> None:
    chat = decode_messages(ANTHROPIC_MESSAGES, "openai")
    body = chat_body(chat, "gpt-up", max_tokens_field="max_tokens", stream_usage=True)
    assert body["messages"] == [
        {"role": "system", "content": "Be brief."},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "What is this?"},
                {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
            ],
        },
        {
            "role": "assistant",
            "content": "Checking.",
            "tool_calls": [
                {
                    "id": "toolu_1",
                    "type": "function",
                    "function": {"name": "lookup", "arguments": '{"q":"x"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "toolu_1", "content": "Error: not found"},
        {"role": "user", "content": "Try again"},
    ]
    assert (body["max_tokens"], body["stop"], body["user"]) == (200, ["END"], "u-42")
    assert body["tool_choice"] == {"type": "function", "function": {"name": "lookup"}}
    assert "stream" not in body
    streamed = chat_body(
        decode_messages(dict(ANTHROPIC_MESSAGES, stream=True), "openai"),
        "gpt-up",
        max_tokens_field="max_tokens",
        stream_usage=True,
    )
    assert streamed["stream_options"] == {"include_usage": True}  # usage feeds message_delta


def test_official_openai_gets_max_completion_tokens() -> None:
    chat = decode_messages(ANTHROPIC_MESSAGES, "openai")
    model = ModelConfig(name="gpt", provider="openai")
    request = provider("openai").build_chat_request(chat, model, call_id="c1")
    body = orjson.loads(request.body)
    assert body["max_completion_tokens"] == 200 and "max_tokens" not in body
    assert request.headers["authorization"] == "Bearer sk-secret"


def _with(body: dict[str, Any], **changes: Any) -> dict[str, Any]:
    return {**body, **changes}


def _user_part(part: dict[str, Any]) -> dict[str, Any]:
    return _with(OPENAI_CHAT, messages=[{"role": "user", "content": [part]}])


AUDIO = {"type": "input_audio", "input_audio": {"data": "AAAA", "format": "wav"}}
URL_IMAGE = {"type": "image_url", "image_url": {"url": "https://example.com/a.jpg"}}
SCHEMA = {"type": "json_schema", "json_schema": {"name": "x", "schema": WEATHER}}


@pytest.mark.parametrize(
    ("body", "target", "param"),
    [
        (_with(OPENAI_CHAT, n=2), "anthropic", "n"),
        (_with(OPENAI_CHAT, logprobs=True), "anthropic", "logprobs"),
        (_with(OPENAI_CHAT, top_logprobs=3), "gemini", "top_logprobs"),
        (_with(OPENAI_CHAT, audio={"voice": "alloy"}), "anthropic", "audio"),
        (_user_part(AUDIO), "anthropic", "messages[0].content[0]"),
        (_with(OPENAI_CHAT, response_format=SCHEMA), "anthropic", "response_format"),
        (_with(OPENAI_CHAT, seed=7), "anthropic", "seed"),
        (_with(OPENAI_CHAT, presence_penalty=0.5), "anthropic", "presence_penalty"),
        (_user_part(URL_IMAGE), "gemini", "messages[0].content[0]"),
        (_with(OPENAI_CHAT, parallel_tool_calls=False), "gemini", "parallel_tool_calls"),
        (
            _with(OPENAI_CHAT, tools=[{"type": "custom", "custom": {"name": "x"}}]),
            "anthropic",
            "tools[0].type",
        ),
        (_with(OPENAI_CHAT, made_up_field=1), "gemini", "made_up_field"),
    ],
)
def test_openai_fields_without_an_equivalent_are_refused(
    body: dict[str, Any], target: str, param: str
) -> None:
    build = messages_body if target == "anthropic" else None
    with pytest.raises(BadRequest) as info:
        chat = decode_chat(body, target)
        if build is not None:
            build(chat, "m")
        else:
            generate_body(chat)
    assert info.value.param == param
    assert f"'{param}'" in info.value.message


THINKING = {"type": "enabled", "budget_tokens": 2000}
DOCUMENT = {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "x"}}


@pytest.mark.parametrize(
    ("body", "param"),
    [
        (_with(ANTHROPIC_MESSAGES, top_k=5), "top_k"),
        (_with(ANTHROPIC_MESSAGES, thinking=THINKING), "thinking"),
        (
            _with(
                ANTHROPIC_MESSAGES, tools=[{"type": "web_search_20250305", "name": "web_search"}]
            ),
            "tools[0]",
        ),
        (
            _with(ANTHROPIC_MESSAGES, messages=[{"role": "user", "content": [DOCUMENT]}]),
            "messages[0].content[0]",
        ),
        (_with(ANTHROPIC_MESSAGES, tool_choice={"type": []}), "tool_choice"),  # found by fuzzing
    ],
)
def test_anthropic_fields_without_an_openai_equivalent_are_refused(
    body: dict[str, Any], param: str
) -> None:
    with pytest.raises(BadRequest) as info:
        chat_body(
            decode_messages(body, "openai"), "m", max_tokens_field="max_tokens", stream_usage=True
        )
    assert info.value.param == param


def test_tool_result_for_an_unknown_call_cannot_go_to_gemini() -> None:
    body = _with(OPENAI_CHAT, messages=[{"role": "tool", "tool_call_id": "nope", "content": "x"}])
    with pytest.raises(BadRequest, match="'nope' answers no earlier tool call"):
        generate_body(decode_chat(body, "gemini"))


def test_anthropic_native_request_headers() -> None:
    anthropic = provider("anthropic")
    model = ModelConfig(name="claude", provider="p", upstream_model="claude-up")
    body = {"model": "claude", "max_tokens": 5, "messages": []}
    default = anthropic.build_request("messages", dict(body), model, stream=False, call_id="c1")
    assert default.url == "https://api.anthropic.com/v1/messages"
    assert default.headers["anthropic-version"] == "2023-06-01"
    assert default.headers["x-api-key"] == "sk-secret" and "authorization" not in default.headers
    assert orjson.loads(default.body)["model"] == "claude-up"
    forwarded = anthropic.build_request(
        "messages",
        dict(body),
        model,
        stream=True,
        call_id="c1",
        client_headers={"anthropic-version": "2024-01-01", "anthropic-beta": "tools-2024"},
    )
    assert forwarded.headers["anthropic-version"] == "2024-01-01"
    assert forwarded.headers["anthropic-beta"] == "tools-2024"


def test_gemini_urls_and_key() -> None:
    gemini = provider("gemini")
    model = ModelConfig(name="g", provider="p", upstream_model="gemini-2.5-flash")
    chat = decode_chat(
        _with(
            OPENAI_CHAT, messages=[{"role": "user", "content": "hi"}], tools=None, tool_choice=None
        ),
        "gemini",
    )
    whole = gemini.build_chat_request(chat, model, call_id="c1")
    assert whole.url.endswith("/v1beta/models/gemini-2.5-flash:generateContent")
    assert whole.headers["x-goog-api-key"] == "sk-secret"
    chat.stream = True
    streamed = gemini.build_chat_request(chat, model, call_id="c1")
    assert streamed.url.endswith(":streamGenerateContent?alt=sse")


@pytest.mark.parametrize("kind", [["auto"], {"t": 1}, 3])
def test_an_anthropic_tool_choice_type_that_is_not_text_is_a_400(kind: Any) -> None:
    body = {"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}],
            "tool_choice": {"type": kind}}
    with pytest.raises(BadRequest, match="tool_choice"):
        decode_messages(body, "openai")
