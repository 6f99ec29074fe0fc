"""Provider failures reach the client as clear errors in OpenAI's shape, never a traceback."""

from __future__ import annotations

import uuid

import openai
import pytest

from tests.servers import SIM_KEY


def ask(extra: str) -> list[dict]:
    return [{"role": "user", "content": f"hi [sim tag={uuid.uuid4().hex[:8]} {extra}]"}]


def test_rate_limit_is_passed_through(client: openai.OpenAI) -> None:
    with pytest.raises(openai.RateLimitError) as info:
        client.chat.completions.create(model="gpt-test", messages=ask("error=429"))
    assert info.value.response.headers.get("retry-after") == "1"


def test_upstream_500_is_passed_through(client: openai.OpenAI) -> None:
    with pytest.raises(openai.InternalServerError) as info:
        client.chat.completions.create(model="gpt-test", messages=ask("error=500"))
    assert info.value.status_code == 500


def test_stream_error_status_before_start_is_json(client: openai.OpenAI) -> None:
    with pytest.raises(openai.RateLimitError):
        client.chat.completions.create(model="gpt-test", messages=ask("error=429"), stream=True)


def test_mid_stream_error_is_an_sse_error_event(client: openai.OpenAI) -> None:
    stream = client.chat.completions.create(
        model="gpt-test", messages=ask("error=mid_stream error_after=3"), stream=True)
    received = []
    with pytest.raises(openai.APIError):
        for chunk in stream:
            received.append(chunk)
    assert received, "the tokens before the error were relayed"


def test_stalled_stream_ends_with_a_timeout_error(client: openai.OpenAI) -> None:
    stream = client.chat.completions.create(
        model="gpt-test", messages=ask("error=stall error_after=2"), stream=True)
    with pytest.raises(openai.APIError) as info:
        for _ in stream:
            pass
    assert "did not answer in time" in str(info.value)


def test_connect_failure_is_502(client: openai.OpenAI) -> None:
    with pytest.raises(openai.APIStatusError) as info:
        client.chat.completions.create(model="dead-model", messages=ask(""))
    assert info.value.status_code == 502
    assert info.value.code == "upstream_unavailable"


def test_rejected_gateway_credentials_are_502_without_the_key(client: openai.OpenAI) -> None:
    with pytest.raises(openai.APIStatusError) as info:
        client.chat.completions.create(model="wrong-key-model", messages=ask(""))
    assert info.value.status_code == 502
    assert info.value.code == "upstream_auth_failed"
    assert "sk-wrong-upstream-key" not in info.value.response.text


def test_no_secret_in_responses_or_logs(client: openai.OpenAI, gateway) -> None:
    for extra in ("error=429", "error=500"):
        with pytest.raises(openai.APIStatusError) as info:
            client.chat.completions.create(model="gpt-test", messages=ask(extra))
        assert SIM_KEY not in info.value.response.text
    assert SIM_KEY not in gateway.output()
    assert "Traceback" not in gateway.output()
