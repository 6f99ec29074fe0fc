"""Abort and the ledger on every vendor path: the client leaving closes the upstream at once
(proved by /_sim/stats), and the cancelled call is recorded with the input the provider had
already reported (Anthropic's exact input from `message_start`, Gemini's running usage) plus
the tokens delivered, billed per the provider's `cancel_billing`."""

from __future__ import annotations

import time

import anthropic
import openai
import pytest

from gateway.ledger.limits import SIM_MAX_OUTPUT

from .vendors import closed_record, ledger_record, new_tag, one_record, say, tokens_after

SLOW = "tps=20 tokens=200"


@pytest.fixture
def claude(gateway) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=gateway.url, api_key="key-chat", max_retries=0, timeout=10)


def check_abort(sim, tag: str, left_at: float, read: int) -> dict:
    record = closed_record(sim, tag)
    assert record["completed"] is False
    assert tokens_after(record, left_at) <= 1  # the SPEC's bound
    assert record["closed_at"] >= left_at
    assert record["tokens_sent"] < 40  # far from the 200 it would have generated
    return record


@pytest.mark.parametrize("model", ["claude-test", "gpt-test", "gemini-test"])
def test_anthropic_client_leaves_mid_stream(claude, gateway, sim, model: str) -> None:
    tag = new_tag()
    prompt = say(tag, SLOW)
    with claude.messages.stream(
        model=model, max_tokens=500, messages=[{"role": "user", "content": prompt}]
    ) as s:
        call_id = s.response.headers["x-gateway-request-id"]
        read = 0
        for _ in s.text_stream:
            read += 1
            if read == 3:
                break
        left_at = time.time()
    check_abort(sim, tag, left_at, read)
    row = ledger_record(gateway, call_id)
    assert row["status"] == "cancelled" and row["cancel_reason"] == "client_disconnect"
    assert read <= row["completion_tokens"] <= read + 2  # what was delivered
    if model == "claude-test":
        # exact input from message_start: the simulator counts words, a tokenizer far more
        assert (row["prompt_tokens"], row["token_source"]) == (len(prompt.split()), "counted")


@pytest.mark.parametrize("model", ["claude-test", "gemini-test"])
def test_openai_client_leaves_mid_stream(client: openai.OpenAI, gateway, sim, model: str) -> None:
    tag = new_tag()
    prompt = say(tag, SLOW)
    with client.chat.completions.with_streaming_response.create(
        model=model,
        stream=True,
        messages=[{"role": "user", "content": prompt}],
    ) as response:
        call_id = response.headers["x-gateway-request-id"]
        read = 0
        for chunk in response.parse():
            if chunk.choices and chunk.choices[0].delta.content:
                read += 1
                if read == 3:
                    break
        left_at = time.time()
    check_abort(sim, tag, left_at, read)
    row = ledger_record(gateway, call_id)
    assert row["status"] == "cancelled"
    assert row["prompt_tokens"] == len(prompt.split())  # the provider's count, not a tokenizer's
    assert read <= row["completion_tokens"] <= read + 2
    if model == "gemini-test":
        # Gemini keeps generating after an abort and bills it all (`cancel_billing: full`):
        # the running usage of the last chunk is no final bill; without max_tokens the bill
        # is the model's maximum output.
        assert row["token_source"] == "estimated"
        assert row["billed_completion_tokens"] == SIM_MAX_OUTPUT


@pytest.mark.parametrize("model", ["claude-test", "gemini-test"])
def test_client_leaves_before_the_first_token(gateway, sim, model: str) -> None:
    tag = new_tag()
    claude = anthropic.Anthropic(base_url=gateway.url, api_key="key-chat", max_retries=0)
    stream = claude.messages.create(
        model=model,
        max_tokens=50,
        stream=True,
        messages=[{"role": "user", "content": say(tag, "ttft_ms=3000")}],
    )
    left_at = time.time()
    stream.close()
    record = closed_record(sim, tag)
    assert record["tokens_sent"] == 0
    assert record["closed_at"] - left_at < 1.0  # long before the first token was due


@pytest.mark.parametrize("model", ["claude-test", "gemini-test"])
def test_non_stream_abandoned_by_client_timeout(gateway, sim, model: str) -> None:
    tag = new_tag()
    impatient = openai.OpenAI(
        base_url=f"{gateway.url}/v1", api_key="key-chat", max_retries=0, timeout=0.5
    )
    started = time.time()
    with pytest.raises(openai.APITimeoutError):
        impatient.chat.completions.create(
            model=model, messages=[{"role": "user", "content": say(tag, "ttft_ms=3000")}]
        )
    record = closed_record(sim, tag)
    assert record["completed"] is False
    assert record["closed_at"] - started < 1.5  # the 3 s generation was cut short


def test_drained_anthropic_stream_records_the_final_usage(gateway, sim) -> None:
    """`on_cancel: drain` reads on to `message_stop`, whose usage is the exact bill."""
    tag = new_tag()
    drainer = anthropic.Anthropic(base_url=gateway.url, api_key="key-drain", max_retries=0)
    with drainer.messages.stream(
        model="claude-test",
        max_tokens=100,
        messages=[{"role": "user", "content": say(tag, "tps=100 tokens=30")}],
    ) as s:
        call_id = s.response.headers["x-gateway-request-id"]
        next(iter(s.text_stream))
    deadline = time.monotonic() + 5
    while not one_record(sim, tag)["completed"] and time.monotonic() < deadline:
        time.sleep(0.05)
    assert one_record(sim, tag)["tokens_sent"] == 30
    row = ledger_record(gateway, call_id)
    assert (row["status"], row["token_source"]) == ("cancelled", "usage")
    assert row["billed_completion_tokens"] == 30 and row["completion_tokens"] < 30
