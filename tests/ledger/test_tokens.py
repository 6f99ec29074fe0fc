"""Offline token counting and prompt counting: no network, tiktoken's exact counts."""

from __future__ import annotations

import pytest
import tiktoken.load

from gateway import tokens
from gateway.ledger.prompts import prompt_tokens
from gateway.sim.words import text_of
from tests import tiktoken_reference


def test_vocabularies_load_without_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_network(*args: object, **kwargs: object) -> bytes:
        raise AssertionError("tiktoken tried to download its vocabulary")

    monkeypatch.setattr(tiktoken.load, "read_file", no_network)
    monkeypatch.setattr(tiktoken.load, "read_file_cached", no_network)
    monkeypatch.setattr(tokens, "_load", tokens._load.__wrapped__)  # load afresh, uncached
    for name, size in {"cl100k_base": 100256, "o200k_base": 199998}.items():
        vocabulary = tokens.vocabulary(name)
        assert vocabulary.tokens == size
        assert vocabulary.count("hello world") == 2


def test_vocabularies_are_cached() -> None:
    assert tokens.vocabulary("o200k_base") is tokens.vocabulary("o200k_base")


def test_unbundled_encoding_is_refused() -> None:
    with pytest.raises(ValueError, match="not bundled"):
        tokens.vocabulary("p50k_base")


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        ("gpt-4o-mini", "o200k_base"),
        ("gpt-4.1", "o200k_base"),
        ("o3-mini", "o200k_base"),
        ("gpt-4", "cl100k_base"),
        ("gpt-3.5-turbo", "cl100k_base"),
        ("text-embedding-3-small", "cl100k_base"),
        ("davinci-002", "cl100k_base"),  # an old encoding we do not ship: nearest bundled one
        ("claude-sonnet-4-5", "o200k_base"),
        ("sim-gpt", "o200k_base"),
    ],
)
def test_encoding_per_model_family(model: str, expected: str) -> None:
    assert tokens.encoding_name(model) == expected


@pytest.mark.parametrize("model", ["gpt-4o", "gpt-4"])
def test_simulator_words_count_one_token_each(model: str) -> None:
    assert tokens.count(text_of(37), model) == 37
    assert tokens.count("", model) == 0


def test_special_token_text_counts_as_text() -> None:
    assert tokens.count("<|endoftext|>", "gpt-4o") > 1
    assert tokens.count("<|endoftext|>", "gpt-4o") == tiktoken_reference.count(
        "<|endoftext|>", "o200k_base"
    )


@pytest.mark.parametrize(
    "text", ["\ud83d\ude00 paired", "lone \ud800 high", "\udfff", "a\udc00\ud800b"]
)
def test_surrogates_are_repaired_as_tiktoken_does(text: str) -> None:
    for model, name in (("gpt-4o", "o200k_base"), ("gpt-4", "cl100k_base")):
        assert tokens.count(text, model) == tiktoken_reference.count(text, name)


def test_chat_prompt_uses_openais_per_message_estimate() -> None:
    # 3 (reply priming) + per message 3 + role + content; a name adds 1 + its tokens
    body = {"messages": [{"role": "user", "content": "hello world"}]}
    assert prompt_tokens(body, "gpt-4o") == 3 + 3 + 1 + 2
    named = {"messages": [{"role": "user", "name": "bob", "content": "hello world"}]}
    assert prompt_tokens(named, "gpt-4o") == 9 + 1 + 1


def test_chat_prompt_counts_text_parts_and_tool_calls() -> None:
    parts = {
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "hello world"},
                    {"type": "image_url", "image_url": {}},
                ],
            }
        ]
    }
    assert prompt_tokens(parts, "gpt-4o") == 9
    with_tools = {
        "messages": [{"role": "user", "content": "hi"}],
        "tools": [{"type": "function", "function": {"name": "lookup"}}],
    }
    assert (
        prompt_tokens(with_tools, "gpt-4o")
        > prompt_tokens({"messages": [{"role": "user", "content": "hi"}]}, "gpt-4o") + 5
    )


def test_completion_and_embedding_inputs() -> None:
    assert prompt_tokens({"prompt": "hello world"}, "gpt-4o") == 2
    assert prompt_tokens({"prompt": ["hello world", " the"]}, "gpt-4o") == 3
    assert prompt_tokens({"prompt": [1, 2, 3, 4]}, "gpt-4o") == 4
    assert prompt_tokens({"input": [[1, 2], [3]]}, "gpt-4o") == 3
    assert prompt_tokens({"input": "hello world"}, "text-embedding-3-small") == 2
    assert prompt_tokens(None, "gpt-4o") == 0
    assert prompt_tokens({"model": "x"}, "gpt-4o") == 0


def test_without_the_c_counter_tiktoken_counts_the_same(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """An install without a C compiler (gateway._bpe optional) still counts, with tiktoken."""
    from gateway import tokens

    text = "Hello, world! Ça va? 你好 — 42 tokens'll do\n\n  x"
    expected = tokens.count(text, "gpt-4o")
    monkeypatch.setattr(tokens, "_bpe", None)
    tokens._load.cache_clear()
    try:
        assert tokens.count(text, "gpt-4o") == expected
        assert type(tokens.vocabulary("o200k_base")).__name__ == "TiktokenCounter"
    finally:
        tokens._load.cache_clear()
