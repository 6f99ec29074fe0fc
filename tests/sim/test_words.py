"""The generated words are one token each in cl100k_base and o200k_base (tiktoken's own encoders,
built offline), and the gateway's counter agrees."""

from __future__ import annotations

import pytest
import tiktoken

from gateway import tokens
from gateway.sim.words import TOKENS, WORDS, text_of, token
from tests import tiktoken_reference


@pytest.fixture(scope="module", params=["cl100k_base", "o200k_base"])
def encoding(request: pytest.FixtureRequest) -> tiktoken.Encoding:
    return tiktoken_reference.encoding(request.param)


KNOWN_IDS = {"cl100k_base": [15339, 1917], "o200k_base": [24912, 2375]}


def test_encoding_is_the_real_one(encoding: tiktoken.Encoding) -> None:
    assert encoding.encode("hello world") == KNOWN_IDS[encoding.name]
    assert encoding.decode(encoding.encode("hello world")) == "hello world"


def test_every_word_with_leading_space_is_one_token(encoding: tiktoken.Encoding) -> None:
    assert 40 <= len(WORDS) <= 60
    assert len(set(WORDS)) == len(WORDS)
    for text in TOKENS:
        assert len(encoding.encode(text)) == 1, text
        assert tokens.vocabulary(encoding.name).count(text) == 1, text


def test_generated_text_has_exactly_as_many_tokens_as_words(encoding: tiktoken.Encoding) -> None:
    for count in (1, 16, len(WORDS) + 7, 3 * len(WORDS)):
        assert len(encoding.encode(text_of(count))) == count
        assert tokens.vocabulary(encoding.name).count(text_of(count)) == count


def test_token_cycles_through_words() -> None:
    assert token(0) == " " + WORDS[0]
    assert token(len(WORDS)) == token(0)
    assert text_of(3) == token(0) + token(1) + token(2)
