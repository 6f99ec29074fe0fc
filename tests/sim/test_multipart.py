"""The multipart/form-data reader, against bodies httpx encodes."""

from __future__ import annotations

import httpx
import pytest

from gateway.sim.multipart import MultipartError, boundary_of, parse_multipart


def encoded(files: dict, data: dict) -> tuple[bytes, str]:
    request = httpx.Request("POST", "http://x/v1/files", files=files, data=data)
    return request.read(), request.headers["content-type"]


def test_reads_fields_and_files() -> None:
    payload = b"line one\r\n\r\n--not-a-boundary\nline two\n"
    body, content_type = encoded(
        {"file": ("in.jsonl", payload, "application/jsonl")}, {"purpose": "batch"}
    )
    parts = parse_multipart(body, content_type)
    assert parts["purpose"].data == b"batch"
    assert parts["purpose"].filename is None
    assert (parts["file"].filename, parts["file"].content_type) == ("in.jsonl", "application/jsonl")
    assert parts["file"].data == payload


def test_empty_file() -> None:
    body, content_type = encoded({"file": ("empty.jsonl", b"")}, {})
    assert parse_multipart(body, content_type)["file"].data == b""


def test_quoted_boundary() -> None:
    assert boundary_of('multipart/form-data; boundary="a b;c"') == b"a b;c"


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"{}", "application/json"),
        (b"x", "multipart/form-data"),
        (
            b'--b\r\nContent-Disposition: form-data; name="a"\r\n\r\nx',
            "multipart/form-data; boundary=b",
        ),
        (
            b"--b\r\nContent-Type: text/plain\r\n\r\nx\r\n--b--\r\n",
            "multipart/form-data; boundary=b",
        ),
    ],
)
def test_malformed_bodies(body: bytes, content_type: str) -> None:
    with pytest.raises(MultipartError):
        parse_multipart(body, content_type)
