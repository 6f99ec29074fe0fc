"""OpenAI-compatible routes through the real `openai` SDK: chat, completions, embeddings, models."""

from __future__ import annotations

import base64
import math
import struct

import openai
import pytest

from gateway.sim.words import text_of

from .conftest import RunningSim
from .helpers import directive, new_tag


@pytest.fixture
def client(sim: RunningSim) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{sim.url}/v1", api_key="k", max_retries=0)


def test_models_list(client: openai.OpenAI) -> None:
    ids = [model.id for model in client.models.list()]
    assert ids == ["sim-gpt", "sim-small", "sim-embed"]


def test_chat_non_stream(client: openai.OpenAI, sim: RunningSim) -> None:
    tag = new_tag()
    result = client.chat.completions.create(
        model="any-model-name",
        messages=[
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": f"Say hi {directive(tag=tag, tokens=5)}"},
        ],
    )
    assert result.object == "chat.completion"
    assert result.model == "any-model-name"
    assert result.choices[0].message.content == text_of(5)
    assert result.choices[0].finish_reason == "stop"
    assert result.usage is not None
    assert (result.usage.prompt_tokens, result.usage.completion_tokens) == (3 + 5, 5)
    assert result.usage.total_tokens == 13
    record = sim.record(tag)
    assert record["completed"] is True
    assert record["tokens_sent"] == 5
    assert record["stream"] is False
    assert record["api"] == "openai"
    assert record["body_keys"] == ["messages", "model"]


def test_chat_stream_with_usage(client: openai.OpenAI, sim: RunningSim) -> None:
    tag = new_tag()
    stream = client.chat.completions.create(
        model="sim-gpt",
        messages=[{"role": "user", "content": [{"type": "text", "text": directive(tag=tag)}]}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == text_of(16)
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices]
    assert finishes[-1] == "stop"
    assert finishes.count("stop") == 1
    assert chunks[-1].choices == []
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens == 16
    record = sim.record(tag)
    assert record["tokens_sent"] == 16
    assert len(record["token_times"]) == 16
    assert record["stream_options"] == {"include_usage": True}
    assert record["completed"] is True


def test_stream_without_include_usage_has_no_usage_chunk(client: openai.OpenAI) -> None:
    chunks = list(
        client.chat.completions.create(
            model="m", messages=[{"role": "user", "content": "hi"}], stream=True
        )
    )
    assert all(c.usage is None for c in chunks)
    assert chunks[-1].choices[0].finish_reason == "stop"


def test_usage_directive_zero_omits_usage_chunk(client: openai.OpenAI) -> None:
    chunks = list(
        client.chat.completions.create(
            model="m",
            messages=[{"role": "user", "content": directive(usage=0)}],
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    assert all(c.usage is None for c in chunks)


def test_no_stream_usage_option(sim_factory) -> None:
    quiet = sim_factory(ttft_ms=0, tokens_per_second=0, no_stream_usage=True)
    client = openai.OpenAI(base_url=f"{quiet.url}/v1", api_key="k", max_retries=0)
    chunks = list(
        client.chat.completions.create(
            model="m",
            messages=[{"role": "user", "content": "hi"}],
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    assert len(chunks) == 1 + 16 + 1
    assert all(c.usage is None for c in chunks)


@pytest.mark.parametrize("cap_field", ["max_tokens", "max_completion_tokens"])
def test_max_tokens_caps_with_length(client: openai.OpenAI, cap_field: str) -> None:
    result = client.chat.completions.create(
        model="m", messages=[{"role": "user", "content": "hi"}], **{cap_field: 4}
    )
    assert result.choices[0].finish_reason == "length"
    assert result.choices[0].message.content == text_of(4)
    assert result.usage is not None and result.usage.completion_tokens == 4


def test_completions_non_stream(client: openai.OpenAI) -> None:
    result = client.completions.create(model="m", prompt=f"Once upon {directive(tokens=3)}")
    assert result.object == "text_completion"
    assert result.choices[0].text == text_of(3)
    assert result.choices[0].finish_reason == "stop"
    assert result.usage is not None and result.usage.prompt_tokens == 4


def test_completions_stream(client: openai.OpenAI, sim: RunningSim) -> None:
    tag = new_tag()
    stream = client.completions.create(
        model="m",
        prompt=f"Once upon {directive(tag=tag)}",
        max_tokens=6,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    assert "".join(c.choices[0].text for c in chunks if c.choices) == text_of(6)
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "length"
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 6
    assert sim.record(tag)["tokens_sent"] == 6


def decode(embedding: list[float] | str) -> list[float]:
    """An embedding as floats; the SDK hands back base64 as-is when it was asked for."""
    if isinstance(embedding, list):
        return embedding
    raw = base64.b64decode(embedding)
    return list(struct.unpack(f"<{len(raw) // 4}f", raw))


@pytest.mark.parametrize("encoding_format", ["float", "base64", None])
def test_embeddings(client: openai.OpenAI, encoding_format: str | None) -> None:
    kwargs = {"encoding_format": encoding_format} if encoding_format else {}
    result = client.embeddings.create(
        model="sim-embed", input=["alpha beta", "gamma", "alpha beta"], **kwargs
    )
    vectors = [decode(item.embedding) for item in result.data]
    assert [item.index for item in result.data] == [0, 1, 2]
    assert all(len(v) == 16 for v in vectors)
    assert all(math.isclose(math.sqrt(sum(x * x for x in v)), 1.0, rel_tol=1e-5) for v in vectors)
    assert vectors[0] == pytest.approx(vectors[2])
    assert vectors[0] != pytest.approx(vectors[1])
    assert (result.usage.prompt_tokens, result.usage.total_tokens) == (5, 5)


def test_embeddings_dimensions_and_token_input(client: openai.OpenAI) -> None:
    result = client.embeddings.create(
        model="sim-embed", input=[[1, 2, 3]], dimensions=64, encoding_format="float"
    )
    assert len(result.data[0].embedding) == 64
    assert result.usage.prompt_tokens == 3
