"""Batch input files: every problem is named by its line."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from gateway.batch.jsonl import InvalidFile, parse_lines
from gateway.errors import ModelNotFound

KNOWN = {"gpt-test", "embed-test"}


def check(route: str, body: dict[str, Any]) -> None:
    if body.get("model") not in KNOWN:
        raise ModelNotFound(f"The model `{body.get('model')}` does not exist")


def line(custom_id: str = "r1", url: str = "/v1/chat/completions", **body: Any) -> bytes:
    payload = {"model": "gpt-test", "messages": [{"role": "user", "content": "hi"}], **body}
    return orjson.dumps({"custom_id": custom_id, "method": "POST", "url": url, "body": payload})


def problem(data: bytes) -> str:
    with pytest.raises(InvalidFile) as caught:
        parse_lines(data, check)
    assert caught.value.status == 400 and caught.value.param == "file"
    return caught.value.message


def test_a_valid_file_gives_its_lines_with_numbers_blank_lines_skipped() -> None:
    data = line("a") + b"\n\n" + line("b", "/v1/embeddings", model="embed-test") + b"\n"
    lines = parse_lines(data, check)
    assert [(x.number, x.custom_id, x.route) for x in lines] == [
        (1, "a", "chat"),
        (3, "b", "embeddings"),
    ]


@pytest.mark.parametrize(
    ("bad", "expected"),
    [
        (b"{not json", "line 2: not valid JSON"),
        (b"[1, 2]", "line 2: not a JSON object"),
        (
            b'{"method":"POST","url":"/v1/chat/completions","body":{}}',
            "line 2: missing 'custom_id'",
        ),
        (b'{"custom_id":"x","url":"/v1/chat/completions","body":{}}', "line 2: missing 'method'"),
        (
            b'{"custom_id":"x","method":"GET","url":"/v1/chat/completions","body":{}}',
            "line 2: 'method' must be POST",
        ),
        (b'{"custom_id":"x","method":"POST","body":{}}', "line 2: missing 'url'"),
        (
            b'{"custom_id":"x","method":"POST","url":"/v1/moderations","body":{}}',
            "line 2: unknown url '/v1/moderations'",
        ),
        (
            b'{"custom_id":"x","method":"POST","url":"/v1/chat/completions"}',
            "line 2: missing 'body'",
        ),
    ],
)
def test_each_malformed_line_is_named(bad: bytes, expected: str) -> None:
    assert expected in problem(line("ok") + b"\n" + bad)


def test_a_duplicate_custom_id_names_the_second_line() -> None:
    message = problem(line("same") + b"\n" + line("other") + b"\n" + line("same"))
    assert "line 3: custom_id 'same' is not unique" in message
    assert "line 1" not in message


def test_an_unknown_model_names_its_line() -> None:
    assert "line 1: The model `nope` does not exist" in problem(line("a", model="nope"))


def test_several_problems_are_listed_together() -> None:
    message = problem(b"x\n" + line("a") + b"\n" + b"y\n")
    assert "line 1: not valid JSON" in message and "line 3: not valid JSON" in message


def test_an_empty_file_is_refused() -> None:
    assert "no request lines" in problem(b"\n\n")
