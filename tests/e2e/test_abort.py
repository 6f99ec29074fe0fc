"""End-to-end abort: the client leaving closes the upstream at once (proved by /_sim/stats)."""

from __future__ import annotations

import re
import time
import uuid

import httpx
import openai
import pytest

from tests.conftest import sim_records


def closed_record(sim, tag: str, timeout: float = 5.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        records = sim_records(sim, tag)
        if records and records[0]["closed_at"] is not None:
            return records[0]
        time.sleep(0.02)
    pytest.fail(f"the simulator never saw request {tag} close: {sim_records(sim, tag)}")


def abort_count(gateway) -> float:
    text = httpx.get(f"{gateway.url}/metrics").text
    match = re.search(r'gateway_upstream_abort_seconds_count\{provider="sim"\} (\S+)', text)
    return float(match.group(1)) if match else 0.0


def tokens_after(record: dict, moment: float) -> int:
    return sum(1 for sent in record["token_times"] if sent > moment)


@pytest.mark.parametrize("chunks_read", [1, 5])
def test_stream_closed_after_n_chunks(client: openai.OpenAI, sim, gateway,
                                      chunks_read: int) -> None:
    tag = uuid.uuid4().hex[:12]
    before = abort_count(gateway)
    stream = client.chat.completions.create(
        model="gpt-test", stream=True,
        messages=[{"role": "user", "content": f"go [sim tag={tag} tps=20 tokens=200]"}])
    seen = 0
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            seen += 1
            if seen == chunks_read:
                break
    left_at = time.time()
    stream.close()
    record = closed_record(sim, tag)
    assert record["completed"] is False
    assert tokens_after(record, left_at) <= 1
    assert record["tokens_sent"] < 200
    assert record["closed_at"] >= left_at
    deadline = time.monotonic() + 2
    while abort_count(gateway) <= before and time.monotonic() < deadline:
        time.sleep(0.02)
    assert abort_count(gateway) == before + 1


def test_client_leaves_before_first_token(client: openai.OpenAI, sim) -> None:
    tag = uuid.uuid4().hex[:12]
    stream = client.chat.completions.create(
        model="gpt-test", stream=True,
        messages=[{"role": "user", "content": f"go [sim tag={tag} ttft_ms=3000]"}])
    left_at = time.time()
    stream.close()
    record = closed_record(sim, tag)
    assert record["tokens_sent"] == 0
    assert record["closed_at"] - left_at < 1.0  # long before the first token was due


def test_non_stream_abandoned_by_client_timeout(gateway, sim) -> None:
    tag = uuid.uuid4().hex[:12]
    impatient = openai.OpenAI(base_url=f"{gateway.url}/v1", api_key="key-chat", max_retries=0,
                              timeout=0.5)
    started = time.time()
    with pytest.raises(openai.APITimeoutError):
        impatient.chat.completions.create(
            model="gpt-test",
            messages=[{"role": "user", "content": f"go [sim tag={tag} ttft_ms=3000]"}])
    record = closed_record(sim, tag)
    assert record["completed"] is False
    assert record["closed_at"] - started < 1.5  # the 3 s generation was cut short


def test_drain_workload_reads_the_upstream_to_its_end(gateway, sim) -> None:
    tag = uuid.uuid4().hex[:12]
    drainer = openai.OpenAI(base_url=f"{gateway.url}/v1", api_key="key-drain", max_retries=0)
    stream = drainer.chat.completions.create(
        model="gpt-test", stream=True,
        messages=[{"role": "user", "content": f"go [sim tag={tag} tps=100 tokens=30]"}])
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            break
    stream.close()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        (record,) = sim_records(sim, tag)
        if record["completed"]:
            break
        time.sleep(0.05)
    assert record["completed"] is True and record["closed_at"] is None
    assert record["tokens_sent"] == 30
