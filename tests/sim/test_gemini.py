"""The Gemini generateContent routes, over plain httpx."""

from __future__ import annotations

import json
from typing import Any

import httpx

from gateway.sim.words import text_of

from .conftest import RunningSim
from .helpers import directive, new_tag

WEATHER = {
    "functionDeclarations": [
        {
            "name": "get_weather",
            "parameters": {"type": "object", "properties": {"location": {"type": "string"}}},
        }
    ]
}


def stream(sim: RunningSim, body: dict[str, Any], model: str = "gemini-sim") -> list[dict]:
    url = f"{sim.url}/v1beta/models/{model}:streamGenerateContent"
    with httpx.stream("POST", url, params={"alt": "sse"}, json=body) as response:
        assert response.status_code == 200
        assert response.headers["content-type"] == "text/event-stream"
        lines = [line for line in response.iter_lines() if line]
    assert all(line.startswith("data: ") for line in lines)
    return [json.loads(line[6:]) for line in lines]


def user(text: str) -> dict[str, Any]:
    return {"role": "user", "parts": [{"text": text}]}


def test_stream_text_usage_and_finish(sim: RunningSim) -> None:
    tag = new_tag()
    body = {
        "contents": [user(f"Write a poem {directive(tag=tag, tokens=5)}")],
        "systemInstruction": {"parts": [{"text": "Be a poet."}]},
    }
    chunks = stream(sim, body)
    assert len(chunks) == 5
    text = "".join(c["candidates"][0]["content"]["parts"][0]["text"] for c in chunks)
    assert text == text_of(5)
    counts = [c["usageMetadata"]["candidatesTokenCount"] for c in chunks]
    assert counts == [1, 2, 3, 4, 5]
    assert all(c["usageMetadata"]["promptTokenCount"] == 3 + 6 for c in chunks)
    assert chunks[-1]["usageMetadata"]["totalTokenCount"] == 9 + 5
    assert [("finishReason" in c["candidates"][0]) for c in chunks] == [False] * 4 + [True]
    assert chunks[-1]["candidates"][0]["finishReason"] == "STOP"
    record = sim.record(tag)
    assert (record["api"], record["model"], record["stream"]) == ("gemini", "gemini-sim", True)
    assert record["tokens_sent"] == 5


def test_max_output_tokens(sim: RunningSim) -> None:
    body = {"contents": [user("hi")], "generationConfig": {"maxOutputTokens": 2}}
    chunks = stream(sim, body)
    assert len(chunks) == 2
    assert chunks[-1]["candidates"][0]["finishReason"] == "MAX_TOKENS"


def test_non_stream(sim: RunningSim) -> None:
    url = f"{sim.url}/v1beta/models/gemini-sim:generateContent"
    response = httpx.post(url, json={"contents": [user(directive(tokens=3))]})
    data = response.json()
    candidate = data["candidates"][0]
    assert candidate["content"] == {"role": "model", "parts": [{"text": text_of(3)}]}
    assert candidate["finishReason"] == "STOP"
    assert data["usageMetadata"] == {
        "promptTokenCount": 2,
        "candidatesTokenCount": 3,
        "totalTokenCount": 5,
    }


def test_function_calls_arrive_whole(sim: RunningSim) -> None:
    body = {"contents": [user(directive(tool_calls=2))], "tools": [WEATHER]}
    chunks = stream(sim, body)
    calls = [p["functionCall"] for c in chunks for p in c["candidates"][0]["content"]["parts"]]
    assert [c["name"] for c in calls] == ["get_weather", "get_weather"]
    assert calls[0]["args"] == {"location": "San Francisco"}


def test_mode_any_forces_a_call(sim: RunningSim) -> None:
    url = f"{sim.url}/v1beta/models/g:generateContent"
    body = {
        "contents": [user("weather")],
        "tools": [WEATHER],
        "toolConfig": {"functionCallingConfig": {"mode": "ANY"}},
    }
    parts = httpx.post(url, json=body).json()["candidates"][0]["content"]["parts"]
    assert parts == [
        {"functionCall": {"name": "get_weather", "args": {"location": "San Francisco"}}}
    ]


def test_errors_in_gemini_shape(sim: RunningSim) -> None:
    url = f"{sim.url}/v1beta/models/g:generateContent"
    response = httpx.post(url, json={"contents": [user(directive(error=429))]})
    assert response.status_code == 429
    assert response.json()["error"] == {
        "code": 429,
        "message": "Rate limit reached (simulated)",
        "status": "RESOURCE_EXHAUSTED",
    }


def test_mid_stream_error_then_eof(sim: RunningSim) -> None:
    chunks = stream(sim, {"contents": [user(directive(error="mid_stream", error_after=1))]})
    assert len(chunks) == 2
    assert chunks[-1]["error"]["status"] == "UNAVAILABLE"
    assert chunks[-1]["error"]["code"] == 503
