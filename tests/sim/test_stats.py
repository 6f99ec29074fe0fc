"""`/_sim/stats` records, `/_sim/reset`, `/healthz`."""

from __future__ import annotations

import time

import httpx

from gateway.sim.stats import MAX_RECORDS, StatsStore

from .conftest import RunningSim
from .helpers import directive, new_tag

FIELDS = {
    "id", "path", "api", "model", "stream", "tag", "api_key", "request_id", "started_at",
    "first_token_at", "token_times", "tokens_sent", "completed", "closed_at", "status_code",
    "error", "body_keys", "stream_options",
}  # fmt: skip


def test_record_fields(sim: RunningSim) -> None:
    tag = new_tag()
    before = time.time()
    response = httpx.post(
        f"{sim.url}/v1/chat/completions",
        headers={"authorization": "Bearer user-key", "x-request-id": "rid-1"},
        json={
            "model": "sim-small",
            "stream": True,
            "stream_options": {"include_usage": True},
            "messages": [{"role": "user", "content": directive(tag=tag, ttft_ms=30, tokens=3)}],
            "temperature": 0,
        },
    )
    assert response.status_code == 200
    record = sim.record(tag)
    assert set(record) == FIELDS
    assert record["path"] == "/v1/chat/completions"
    assert (record["api"], record["model"], record["stream"]) == ("openai", "sim-small", True)
    assert (record["api_key"], record["request_id"]) == ("user-key", "rid-1")
    assert record["body_keys"] == ["messages", "model", "stream", "stream_options", "temperature"]
    assert record["stream_options"] == {"include_usage": True}
    assert before <= record["started_at"] <= record["first_token_at"]
    assert record["first_token_at"] - record["started_at"] >= 0.029
    assert record["token_times"] == sorted(record["token_times"])
    assert record["token_times"][0] == record["first_token_at"]
    assert (record["tokens_sent"], record["completed"], record["closed_at"]) == (3, True, None)
    assert (record["status_code"], record["error"]) == (200, None)


def test_newest_last_and_unfiltered(sim: RunningSim) -> None:
    tags = [new_tag(), new_tag()]
    for tag in tags:
        httpx.post(
            f"{sim.url}/v1/completions", json={"model": "m", "prompt": directive(tag=tag)}
        ).raise_for_status()
    recent = [r["tag"] for r in sim.stats()[-2:]]
    assert recent == tags


def test_store_keeps_the_newest_records() -> None:
    store = StatsStore(limit=3)
    for i in range(5):
        store.open(f"/p{i}", "openai", None, None)
    assert [r["path"] for r in store.query()] == ["/p2", "/p3", "/p4"]
    assert MAX_RECORDS == 20_000


def test_reset_and_health(sim_factory) -> None:
    own = sim_factory(ttft_ms=0, tokens_per_second=0)
    httpx.post(f"{own.url}/v1/completions", json={"prompt": "x"}).raise_for_status()
    assert len(own.stats()) == 1
    assert httpx.post(f"{own.url}/_sim/reset").status_code == 200
    assert own.stats() == []
    assert httpx.get(f"{own.url}/healthz").status_code == 200


def test_token_times_are_not_walked_by_the_garbage_collector() -> None:
    """20,000 kept records of 100 token times each, as lists, made every full collection of the
    simulator walk two million floats (a 50-80 ms stall of every stream it served)."""
    import gc

    record = StatsStore().open("/v1/chat/completions", "openai", None, None)
    for moment in range(100):
        record.add_token(float(moment))
    assert len(gc.get_referents(record.token_times)) <= 1  # its type at most, no floats
    assert record.as_dict()["token_times"] == [float(moment) for moment in range(100)]
