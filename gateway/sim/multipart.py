"""A small `multipart/form-data` reader for file uploads (python-multipart is not a dependency)."""

from __future__ import annotations

import re
from dataclasses import dataclass

PARAM = re.compile(r';\s*([\w*-]+)=(?:"((?:[^"\\]|\\.)*)"|([^;\s]*))')


class MultipartError(ValueError):
    """A body that is not well-formed multipart/form-data."""


@dataclass(frozen=True, slots=True)
class Part:
    """One form field: its name, the file name and type if it is a file, and its bytes."""

    name: str
    filename: str | None
    content_type: str | None
    data: bytes


def header_params(value: str) -> dict[str, str]:
    """The `key=value` parameters after the first `;` of a header value."""
    params = {}
    for match in PARAM.finditer(value):
        quoted, bare = match.group(2), match.group(3)
        params[match.group(1).lower()] = (
            re.sub(r"\\(.)", r"\1", quoted) if quoted is not None else bare
        )
    return params


def boundary_of(content_type: str | None) -> bytes:
    """The boundary of a `multipart/form-data` content type; raises MultipartError."""
    if not content_type or not content_type.lower().startswith("multipart/form-data"):
        raise MultipartError("Content-Type must be multipart/form-data")
    boundary = header_params(content_type).get("boundary")
    if not boundary:
        raise MultipartError("multipart/form-data without a boundary")
    return boundary.encode("latin-1")


def parse_multipart(body: bytes, content_type: str | None) -> dict[str, Part]:
    """The fields of a form body by name (the last one wins); raises MultipartError."""
    delimiter = b"\r\n--" + boundary_of(content_type)
    chunks = (b"\r\n" + body).split(delimiter)
    if len(chunks) < 3 or not chunks[-1].startswith(b"--"):
        raise MultipartError("multipart body is not closed by its boundary")
    parts: dict[str, Part] = {}
    for chunk in chunks[1:-1]:
        part = _part(chunk)
        parts[part.name] = part
    return parts


def _part(chunk: bytes) -> Part:
    if not chunk.startswith(b"\r\n"):
        raise MultipartError("malformed multipart boundary line")
    head, sep, data = chunk[2:].partition(b"\r\n\r\n")
    if not sep:
        raise MultipartError("multipart part without a blank line after its headers")
    headers: dict[str, str] = {}
    for line in head.decode("utf-8", "replace").split("\r\n"):
        key, colon, value = line.partition(":")
        if colon:
            headers[key.strip().lower()] = value.strip()
    disposition = headers.get("content-disposition", "")
    params = header_params(disposition)
    if not disposition.lower().startswith("form-data") or "name" not in params:
        raise MultipartError("multipart part without a form-data name")
    return Part(params["name"], params.get("filename"), headers.get("content-type"), data)
