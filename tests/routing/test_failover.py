"""Retries and fallbacks before the first byte, never after it, and never once the client left.

Each failing deployment is on the session's simulator, told by its provider's
`x-sim-directive` header to fail; the simulator's stats show which deployments a call reached
(each has its own upstream model name).
"""

from __future__ import annotations

import time

import httpx
import openai
import pytest

from tests.conftest import sim_records
from tests.ops.traffic import metric_sum
from tests.routing.helpers import (
    client,
    deployments,
    ledger_row,
    new_tag,
    reached,
    say,
    streamed_text,
)


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
def test_server_error_is_retried_on_another_deployment(routed, sim, stream) -> None:
    tag = new_tag()
    answer = client(routed).chat.completions.create(
        model="r-5xx", messages=say(tag), stream=stream)
    text = streamed_text(answer) if stream else answer.choices[0].message.content
    assert text
    assert reached(sim, tag) == ["up-500", "up-5xx-ok"]
    metrics = httpx.get(f"{routed.url}/metrics", timeout=5).text
    assert metric_sum(metrics, "gateway_upstream_attempts_total", model="r-5xx",
                      deployment="err500/up-500", outcome="server_error") >= 1


def test_rate_limit_moves_on_and_cools_the_deployment(routed, sim) -> None:
    tag = new_tag()
    answer = client(routed).chat.completions.create(model="r-429", messages=say(tag))
    assert answer.choices[0].message.content
    assert reached(sim, tag) == ["up-429", "up-429-ok"]
    limited = deployments(routed)[("r-429", "err429/up-429")]
    assert {"outcome": "rate_limited", "status": 429} in [
        {"outcome": e["outcome"], "status": e["status"]} for e in limited["recent_errors"]]


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
def test_first_byte_timeout_moves_to_another_deployment(routed, sim, stream) -> None:
    tag = new_tag()
    answer = client(routed).chat.completions.create(
        model="r-fbt", messages=say(tag), stream=stream)
    text = streamed_text(answer) if stream else answer.choices[0].message.content
    assert text
    slow, fast = sim_records(sim, tag)
    assert (slow["model"], fast["model"]) == ("up-slow", "up-fbt-ok")
    assert slow["tokens_sent"] == 0 and slow["closed_at"] is not None  # the attempt was closed


def test_fallback_model_answers_and_the_ledger_names_it(routed, sim) -> None:
    tag = new_tag()
    raw = client(routed).chat.completions.with_raw_response.create(
        model="r-fallback", messages=say(tag))
    assert raw.parse().choices[0].message.content
    assert reached(sim, tag) == ["up-500", "up-target"]
    row = ledger_row(routed, raw.headers["x-gateway-request-id"])
    assert (row["model"], row["provider"], row["upstream_model"]) == ("r-target", "ok",
                                                                      "up-target")
    assert (row["status"], row["price_input"]) == ("completed", 5.0)  # the served model's


def test_fallback_to_another_provider_kind_is_translated(routed, sim) -> None:
    tag = new_tag()
    stream = client(routed).chat.completions.create(
        model="r-fallback-claude", messages=say(tag), stream=True)
    assert streamed_text(stream)
    failed, served = sim_records(sim, tag)
    assert (failed["model"], failed["api"]) == ("up-500", "openai")
    assert (served["model"], served["api"], served["completed"]) == ("up-claude", "anthropic",
                                                                     True)


def test_a_stream_broken_after_its_first_byte_is_not_retried(routed, sim) -> None:
    tag = new_tag()
    stream = client(routed).chat.completions.create(
        model="r-midstream", messages=say(tag, "error=mid_stream error_after=2"), stream=True)
    received = []
    with pytest.raises(openai.APIError, match="mid-stream"):
        for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                received.append(chunk.choices[0].delta.content)
    assert len(received) == 2
    assert reached(sim, tag) == ["up-mid-a"]  # the standby never saw it


def _leave_early(routed, model: str, tag: str, stream: bool) -> float:
    """Call `model`, leaving after 0.4 s; when the call started."""
    impatient = client(routed, timeout=0.4)
    started = time.monotonic()
    with pytest.raises(openai.APITimeoutError):
        impatient.chat.completions.create(model=model, messages=say(tag), stream=stream)
    return started


def test_a_client_leaving_during_a_slow_first_attempt_stops_every_attempt(routed, sim) -> None:
    tag = new_tag()
    started = _leave_early(routed, "r-leave", tag, stream=True)
    time.sleep(max(0.0, started + 1.5 - time.monotonic()))  # past the 1 s first_byte_timeout
    [record] = sim_records(sim, tag)
    assert record["model"] == "up-leave-a" and record["closed_at"] is not None


def test_a_client_leaving_during_a_backoff_stops_every_attempt(routed, sim) -> None:
    tag = new_tag()
    started = _leave_early(routed, "r-backoff", tag, stream=False)
    time.sleep(max(0.0, started + 1.5 - time.monotonic()))  # past the 1 s retry-after
    assert reached(sim, tag) == ["up-backoff"]


def test_a_short_retry_after_is_waited_out_before_the_same_deployment(routed, sim) -> None:
    tag = new_tag()
    with pytest.raises(openai.RateLimitError) as caught:
        client(routed).chat.completions.create(model="r-backoff", messages=say(tag))
    assert caught.value.response.headers["retry-after"] == "1"
    first, second = sim_records(sim, tag)
    assert second["started_at"] - first["started_at"] >= 0.95  # the simulator said 1 s
