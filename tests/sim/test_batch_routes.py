"""Files, batch listing, keys, `/_sim/batches` and reset: the plumbing around the batch APIs."""

from __future__ import annotations

import anthropic
import httpx
import openai
import pytest

from .conftest import RunningSim
from .helpers import chat_line, jsonl, message_request


def test_file_lifecycle(sim: RunningSim) -> None:
    client = openai.OpenAI(base_url=f"{sim.url}/v1", api_key="k", max_retries=0)
    data = jsonl([chat_line("a", "x")])
    uploaded = client.files.create(file=("mine.jsonl", data), purpose="batch")
    assert uploaded.id.startswith("file-")
    assert (uploaded.filename, uploaded.bytes, uploaded.purpose) == (
        "mine.jsonl",
        len(data),
        "batch",
    )
    assert client.files.retrieve(uploaded.id).id == uploaded.id
    assert client.files.content(uploaded.id).content == data
    assert uploaded.id in [f.id for f in client.files.list(purpose="batch")]
    deleted = client.files.delete(uploaded.id)
    assert (deleted.id, deleted.deleted) == (uploaded.id, True)
    with pytest.raises(openai.NotFoundError):
        client.files.retrieve(uploaded.id)


def test_upload_refusals(sim: RunningSim) -> None:
    client = openai.OpenAI(base_url=f"{sim.url}/v1", api_key="k", max_retries=0)
    with pytest.raises(openai.BadRequestError):
        client.files.create(file=("x.jsonl", b"{}"), purpose="nonsense")  # type: ignore[arg-type]
    response = httpx.post(f"{sim.url}/v1/files", json={"purpose": "batch"})
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_request_error"


def test_list_batches_pages_newest_first(sim_factory) -> None:
    sim = sim_factory(batch_delay_ms=0)
    client = openai.OpenAI(base_url=f"{sim.url}/v1", api_key="k", max_retries=0)
    uploaded = client.files.create(file=("in.jsonl", jsonl([chat_line("a", "x")])), purpose="batch")
    ids = [
        client.batches.create(
            input_file_id=uploaded.id, endpoint="/v1/chat/completions", completion_window="24h"
        ).id
        for _ in range(3)
    ]
    page = client.batches.list(limit=2)
    assert [b.id for b in page.data] == ids[::-1][:2] and page.has_more
    assert [b.id for b in client.batches.list(limit=2)] == ids[::-1]
    assert [b.status for b in page.data] == ["completed", "completed"]
    rows = httpx.get(f"{sim.url}/_sim/batches").json()["batches"]
    assert [row["polls"] for row in rows] == [0, 0, 0]


def test_require_key(sim_factory) -> None:
    sim = sim_factory(require_key="secret", batch_delay_ms=0)
    data = jsonl([chat_line("a", "x")])
    wrong = openai.OpenAI(base_url=f"{sim.url}/v1", api_key="nope", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        wrong.files.create(file=("in.jsonl", data), purpose="batch")
    with pytest.raises(openai.AuthenticationError):
        wrong.batches.list()
    right = openai.OpenAI(base_url=f"{sim.url}/v1", api_key="secret", max_retries=0)
    uploaded = right.files.create(file=("in.jsonl", data), purpose="batch")
    with pytest.raises(openai.AuthenticationError):
        wrong.files.content(uploaded.id)
    bearer = anthropic.Anthropic(base_url=sim.url, auth_token="nope", max_retries=0)
    with pytest.raises(anthropic.AuthenticationError):
        bearer.messages.batches.create(requests=[message_request("a", "x")])  # type: ignore[list-item]
    claude = anthropic.Anthropic(base_url=sim.url, api_key="secret", max_retries=0)
    created = claude.messages.batches.create(requests=[message_request("a", "x")])  # type: ignore[list-item]
    assert claude.messages.batches.retrieve(created.id).processing_status == "ended"
    rows = httpx.get(f"{sim.url}/_sim/batches").json()["batches"]
    assert [(row["api"], row["api_key"]) for row in rows] == [("anthropic", "secret")]


def test_reset_forgets_batches_and_files(sim_factory) -> None:
    sim = sim_factory()
    client = openai.OpenAI(base_url=f"{sim.url}/v1", api_key="k", max_retries=0)
    uploaded = client.files.create(file=("in.jsonl", jsonl([chat_line("a", "x")])), purpose="batch")
    client.batches.create(
        input_file_id=uploaded.id, endpoint="/v1/chat/completions", completion_window="24h"
    )
    claude = anthropic.Anthropic(base_url=sim.url, api_key="k", max_retries=0)
    claude.messages.batches.create(requests=[message_request("a", "x")])  # type: ignore[list-item]
    rows = httpx.get(f"{sim.url}/_sim/batches").json()["batches"]
    assert [(row["api"], row["status"]) for row in rows] == [
        ("openai", "validating"),
        ("anthropic", "in_progress"),
    ]
    assert httpx.post(f"{sim.url}/_sim/reset").status_code == 200
    assert httpx.get(f"{sim.url}/_sim/batches").json() == {"batches": []}
    assert list(client.files.list()) == []


def test_unknown_batch_paths_are_404(sim: RunningSim) -> None:
    response = httpx.post(f"{sim.url}/v1/messages/batches/x/unknown")
    assert response.status_code == 404
    assert response.json()["type"] == "error"
    assert httpx.get(f"{sim.url}/v1/batches/a/b/c").status_code == 404
