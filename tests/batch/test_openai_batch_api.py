"""The OpenAI Batch API on the gateway, driven by the `openai` SDK, on both lanes."""

from __future__ import annotations

import time
from typing import Any

import httpx
import openai
import orjson
import pytest

from tests.ledger.live import metric
from tests.servers import ServerProcess

from .helpers import ADMIN, jobs_with, record, sim_runs, wait_until

CHAT = "/v1/chat/completions"
EMBEDDINGS = "/v1/embeddings"


def client(gw: ServerProcess, key: str = "key-chat") -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{gw.url}/v1", api_key=key, max_retries=0, timeout=10)


def line(custom_id: str, model: str, text: str = "hello", url: str = CHAT) -> dict[str, Any]:
    body: dict[str, Any] = {"model": model, "messages": [{"role": "user", "content": text}]}
    if url == EMBEDDINGS:
        body = {"model": model, "input": text}
    return {"custom_id": custom_id, "method": "POST", "url": url, "body": body}


def upload(c: openai.OpenAI, lines: list[dict[str, Any]]) -> str:
    data = b"\n".join(orjson.dumps(item) for item in lines) + b"\n"
    return c.files.create(file=("input.jsonl", data), purpose="batch").id


def finished(c: openai.OpenAI, batch_id: str, within: float = 30.0) -> Any:
    deadline = time.monotonic() + within
    batch = c.batches.retrieve(batch_id)
    while batch.status not in ("completed", "failed", "cancelled", "expired"):
        assert time.monotonic() < deadline, f"batch still {batch.status}"
        time.sleep(0.2)
        batch = c.batches.retrieve(batch_id)
    return batch


def results(c: openai.OpenAI, file_id: str | None) -> dict[str, dict[str, Any]]:
    if file_id is None:
        return {}
    lines = [orjson.loads(x) for x in c.files.content(file_id).text.splitlines() if x]
    return {item["custom_id"]: item for item in lines}


def run(c: openai.OpenAI, lines: list[dict[str, Any]]) -> tuple[Any, dict, dict]:
    batch = c.batches.create(
        input_file_id=upload(c, lines),
        endpoint=CHAT,
        completion_window="24h",
        metadata={"suite": "batch"},
    )
    assert batch.status == "in_progress" and batch.request_counts.total == len(lines)
    batch = finished(c, batch.id)
    return batch, results(c, batch.output_file_id), results(c, batch.error_file_id)


def test_native_lane_one_provider_job_carries_the_calls(
    batch_gateway: ServerProcess, batch_sim: ServerProcess
) -> None:
    c = client(batch_gateway)
    lines = [line(f"n{i}", "native-gpt", f"native {i}") for i in range(4)]
    batch, output, errors = run(c, lines)
    assert batch.status == "completed" and batch.metadata == {"suite": "batch"}
    assert (batch.request_counts.completed, batch.request_counts.failed) == (4, 0)
    assert batch.completed_at and batch.finalizing_at and errors == {}
    assert set(output) == {"n0", "n1", "n2", "n3"}
    call_ids = {item["response"]["request_id"] for item in output.values()}
    for item in output.values():
        assert item["error"] is None and item["id"] == f"batch_req_{item['response']['request_id']}"
        assert item["response"]["status_code"] == 200
        assert item["response"]["body"]["object"] == "chat.completion"
    jobs = jobs_with(batch_sim, call_ids)
    assert len(jobs) == 1 and set(jobs[0]["custom_ids"]) == call_ids  # one job, all four
    assert jobs[0]["api"] == "openai" and jobs[0]["model"] == "sim-gpt"
    for call_id in call_ids:
        row = record(batch_gateway, call_id)
        assert (row["mode"], row["status"], row["model"]) == ("batch", "completed", "native-gpt")
        assert row["batch_savings_usd"] == pytest.approx(row["cost_usd"]) and row["cost_usd"] > 0
        assert row["batch"]["batch_id"] == batch.id and row["batch"]["lane"] == "native"


def test_emulated_lane_runs_each_call_itself_once(
    batch_gateway: ServerProcess, batch_sim: ServerProcess
) -> None:
    c = client(batch_gateway)
    batch, output, errors = run(c, [line(f"e{i}", "emu-gpt", f"emulated {i}") for i in range(4)])
    assert batch.status == "completed" and errors == {}
    assert batch.request_counts.completed == 4
    call_ids = {item["response"]["request_id"] for item in output.values()}
    assert len(call_ids) == 4
    assert jobs_with(batch_sim, call_ids) == []  # no provider batch job
    assert sim_runs(batch_sim, call_ids) == dict.fromkeys(call_ids, 1)
    row = record(batch_gateway, next(iter(call_ids)))
    assert row["batch"]["lane"] == "emulated" and row["batch_savings_usd"] == 0
    assert row["cost_usd"] > 0 and row["mode"] == "batch"


def test_one_file_fans_out_to_every_lane_and_gathers_one_output(
    batch_gateway: ServerProcess, batch_sim: ServerProcess
) -> None:
    c = client(batch_gateway)
    models = ["native-gpt", "emu-gpt", "native-claude", "gemini-test", "claude-test"]
    batch, output, errors = run(c, [line(m, m, f"mixed {m}") for m in models])
    assert batch.status == "completed" and errors == {}
    assert set(output) == set(models)
    for item in output.values():
        body = item["response"]["body"]
        assert body["object"] == "chat.completion" and body["choices"][0]["message"]["content"]
    claude_call = output["native-claude"]["response"]["request_id"]
    (job,) = jobs_with(batch_sim, [claude_call])
    assert job["api"] == "anthropic"  # an OpenAI-shaped line, carried by Message Batches


def test_an_embeddings_batch(batch_gateway: ServerProcess, batch_sim: ServerProcess) -> None:
    c = client(batch_gateway)
    lines = [line(f"v{i}", "embed-test", f"vector {i}", url=EMBEDDINGS) for i in range(2)]
    batch = c.batches.create(
        input_file_id=upload(c, lines), endpoint=EMBEDDINGS, completion_window="24h"
    )
    batch = finished(c, batch.id)
    assert batch.status == "completed" and batch.request_counts.completed == 2
    output = results(c, batch.output_file_id)
    assert set(output) == {"v0", "v1"}
    for item in output.values():
        body = item["response"]["body"]
        assert body["object"] == "list" and body["data"][0]["embedding"]
    (job,) = jobs_with(batch_sim, [item["response"]["request_id"] for item in output.values()])
    assert job["model"] == "sim-embed"


def test_item_errors_go_to_the_error_file(batch_gateway: ServerProcess) -> None:
    c = client(batch_gateway)
    lines = [line("ok", "native-gpt"), line("bad", "native-gpt", "fail me [sim error=500]")]
    batch, output, errors = run(c, lines)
    assert batch.status == "completed"
    assert (batch.request_counts.completed, batch.request_counts.failed) == (1, 1)
    assert set(output) == {"ok"} and set(errors) == {"bad"}
    failed = errors["bad"]
    assert failed["error"] is None and failed["response"]["status_code"] == 500
    assert "error" in failed["response"]["body"]
    row = record(batch_gateway, failed["response"]["request_id"])
    assert (row["status"], row["http_status"], row["cost_usd"]) == ("failed", 500, 0)


def test_cancel_stops_the_queued_calls(batch_gateway: ServerProcess, batch_sim) -> None:
    c = client(batch_gateway)
    lines = [line(f"s{i}", "held-gpt") for i in range(3)]  # a lane that waits an hour
    batch = c.batches.create(input_file_id=upload(c, lines), endpoint=CHAT, completion_window="24h")
    labels = {"provider": "sim-slow", "model": "held-gpt"}

    def depth() -> float:
        return metric(batch_gateway, "gateway_batch_queue_depth", **labels) or 0

    wait_until(
        lambda: depth() == 3,
        10,
        "the queue depth gauge",
    )
    cancelling = c.batches.cancel(batch.id)
    assert cancelling.status in ("cancelling", "cancelled") and cancelling.cancelling_at
    batch = finished(c, batch.id)
    assert batch.status == "cancelled" and batch.cancelled_at
    assert batch.output_file_id is None
    assert (batch.request_counts.completed, batch.request_counts.failed) == (0, 3)
    errors = results(c, batch.error_file_id)
    assert set(errors) == {"s0", "s1", "s2"}
    for item in errors.values():
        assert item["response"] is None and item["error"]["code"] == "batch_cancelled"
    rows = httpx.get(
        f"{batch_gateway.url}/v1/gateway/requests",
        headers=ADMIN,
        params={"status": "cancelled", "limit": 1000},
    ).json()["data"]
    ours = [r for r in rows if r["model"] == "held-gpt"]
    assert len(ours) == 3 and all(r["cost_usd"] == 0 and r["mode"] == "batch" for r in ours)
    wait_until(lambda: depth() == 0, 10, "the queue depth to drop")
    with pytest.raises(openai.ConflictError):
        c.batches.cancel(batch.id)


def test_input_files_are_checked_line_by_line(batch_gateway: ServerProcess) -> None:
    c = client(batch_gateway)
    bad = (
        orjson.dumps(line("a", "native-gpt"))
        + b"\n{broken\n"
        + orjson.dumps(line("a", "native-gpt"))
        + b"\n"
        + orjson.dumps(line("b", "no-such-model"))
        + b"\n"
        + orjson.dumps(line("c", "native-gpt", url="/v1/moderations"))
        + b"\n"
    )
    with pytest.raises(openai.BadRequestError) as caught:
        c.files.create(file=("bad.jsonl", bad), purpose="batch")
    message = caught.value.body["message"]
    assert "line 2: not valid JSON" in message
    assert "line 3: custom_id 'a' is not unique" in message
    assert "line 4: The model `no-such-model` does not exist" in message
    assert "line 5: unknown url '/v1/moderations'" in message
    with pytest.raises(openai.BadRequestError, match="purpose"):
        c.files.create(file=("x.jsonl", orjson.dumps(line("a", "native-gpt"))), purpose="fine-tune")
    huge = b"\n".join(orjson.dumps(line(f"h{i}", "native-gpt", "x" * 200)) for i in range(40))
    with pytest.raises(openai.APIStatusError) as caught:
        c.files.create(file=("huge.jsonl", huge), purpose="batch")
    assert caught.value.status_code == 413
    assert caught.value.code == "file_too_large"
    embeddings = upload(c, [line("e", "embed-test", url="/v1/embeddings")])
    with pytest.raises(openai.BadRequestError, match="line 1: url '/v1/embeddings' does not"):
        c.batches.create(input_file_id=embeddings, endpoint=CHAT, completion_window="24h")
    with pytest.raises(openai.NotFoundError):
        c.batches.create(input_file_id="file-nope", endpoint=CHAT, completion_window="24h")


def test_a_workload_sees_only_its_own_files_and_batches(batch_gateway: ServerProcess) -> None:
    mine, theirs = client(batch_gateway), client(batch_gateway, "key-etl")
    file_id = upload(mine, [line("x", "emu-gpt")])
    batch = mine.batches.create(input_file_id=file_id, endpoint=CHAT, completion_window="24h")
    assert mine.files.retrieve(file_id).purpose == "batch"
    assert orjson.loads(mine.files.content(file_id).content)["custom_id"] == "x"
    for attempt in (
        lambda: theirs.files.retrieve(file_id),
        lambda: theirs.files.content(file_id),
        lambda: theirs.batches.retrieve(batch.id),
        lambda: theirs.batches.cancel(batch.id),
        lambda: theirs.batches.create(
            input_file_id=file_id, endpoint=CHAT, completion_window="24h"
        ),
    ):
        with pytest.raises(openai.NotFoundError):
            attempt()
    assert batch.id not in [b.id for b in theirs.batches.list(limit=100)]
    assert batch.id in [b.id for b in mine.batches.list(limit=100)]
    admin = client(batch_gateway, "admin-secret")
    assert admin.batches.retrieve(batch.id).id == batch.id
    finished(mine, batch.id)


def test_batch_list_pages_newest_first(batch_gateway: ServerProcess) -> None:
    c = client(batch_gateway, "key-drain")
    file_id = upload(c, [line("p", "emu-gpt")])
    made = [
        c.batches.create(input_file_id=file_id, endpoint=CHAT, completion_window="24h").id
        for _ in range(3)
    ]
    first = c.batches.list(limit=2)
    assert [b.id for b in first.data] == made[:0:-1] and first.has_more
    rest = c.batches.list(limit=2, after=first.data[-1].id)
    assert [b.id for b in rest.data] == made[:1] and not rest.has_more
    for batch_id in made:
        finished(c, batch_id)


def test_batch_savings_in_spend_and_metrics(batch_gateway: ServerProcess) -> None:
    c = client(batch_gateway, "key-nightly")
    batch, output, _ = run(c, [line("m", "native-gpt", "savings")])
    assert batch.status == "completed"
    spend = httpx.get(
        f"{batch_gateway.url}/v1/gateway/spend",
        headers=ADMIN,
        params={"group_by": "workload,model,mode"},
    ).json()["data"]
    key = ("nightly", "native-gpt", "batch")
    (row,) = [r for r in spend if (r["workload"], r["model"], r["mode"]) == key]
    assert row["requests"] >= 1
    assert row["batch_savings_usd"] > 0 and row["batch_savings_usd"] == pytest.approx(
        row["cost_usd"]
    )
    saved = metric(
        batch_gateway, "gateway_batch_savings_usd_total", workload="nightly", model="native-gpt"
    )
    assert saved == pytest.approx(row["batch_savings_usd"])
