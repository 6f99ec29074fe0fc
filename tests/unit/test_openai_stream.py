"""The OpenAI stream tracker: usage capture, usage-chunk stripping, errors, delivered text."""

from __future__ import annotations

from gateway.config import ProviderConfig
from gateway.providers.openai import OpenAIProvider
from gateway.streaming.meter import Meter
from gateway.streaming.sse import SSEDecoder

STREAM = (
    b'data: {"choices":[{"index":0,"delta":{"role":"assistant","content":""}}]}\n\n'
    b'data: {"choices":[{"index":0,"delta":{"content":" hello"}}]}\n\n'
    b'data: {"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":'
    b'{"name":"f","arguments":"{\\"a\\""}}]}}]}\n\n'
    b'data: {"choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}\n\n'
    b'data: {"choices":[],"usage":{"prompt_tokens":7,"completion_tokens":3}}\n\n'
    b"data: [DONE]\n\n"
)


def provider() -> OpenAIProvider:
    return OpenAIProvider(ProviderConfig(name="p", kind="openai", base_url="http://x/v1",
                                         api_key="sk-secret"))


def follow(strip: bool) -> tuple[Meter, bytes]:
    meter = Meter()
    tracker = provider().stream_tracker("chat", meter, strip_usage=strip)
    events = SSEDecoder().feed(STREAM)
    return meter, b"".join(e.raw for e in events if tracker.observe(e))


def test_usage_is_read_and_stripped_when_the_client_did_not_ask() -> None:
    meter, forwarded = follow(strip=True)
    assert (meter.prompt_tokens, meter.completion_tokens) == (7, 3)
    assert b'"usage"' not in forwarded and forwarded.endswith(b"data: [DONE]\n\n")
    assert meter.done and meter.finish_reason == "tool_calls"
    assert meter.delivered_text == ' hellof{"a"'


def test_usage_is_forwarded_when_asked() -> None:
    _, forwarded = follow(strip=False)
    assert forwarded == STREAM


def test_error_event_after_200_is_surfaced_without_the_secret() -> None:
    meter = Meter()
    tracker = provider().stream_tracker("chat", meter, strip_usage=False)
    (event,) = SSEDecoder().feed(
        b'data: {"error":{"message":"bad key sk-secret","type":"server_error"}}\n\n')
    assert tracker.observe(event)
    assert meter.error is not None and "sk-secret" not in meter.error.message


def test_request_asks_for_usage_and_maps_the_model() -> None:
    from gateway.config import ModelConfig

    body = {"model": "mine", "messages": [], "stream": True}
    request = provider().build_request("chat", body, ModelConfig(name="mine", provider="p",
                                       upstream_model="theirs"), stream=True, call_id="c1")
    assert request.strip_usage is True
    assert b'"model":"theirs"' in request.body and b'"include_usage":true' in request.body
    assert request.headers["authorization"] == "Bearer sk-secret"
