"""Small helpers shared by the simulator tests."""

from __future__ import annotations

import uuid


def new_tag() -> str:
    """A tag no other test uses, to find this test's record in the shared stats."""
    return uuid.uuid4().hex[:12]


def directive(**values: object) -> str:
    """A `[sim ...]` directive with `values`."""
    return "[sim " + " ".join(f"{key}={value}" for key, value in values.items()) + "]"


def open_post(port: int, path: str, body: bytes, headers: dict[str, str] | None = None):
    """A raw socket that has sent a POST; the caller reads and closes it."""
    import socket

    sock = socket.create_connection(("127.0.0.1", port))
    lines = [f"POST {path} HTTP/1.1", "host: sim", "content-type: application/json"]
    lines += [f"{key}: {value}" for key, value in (headers or {}).items()]
    lines.append(f"content-length: {len(body)}")
    sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
    return sock


def read_until(sock, marker: bytes, count: int, timeout: float = 5.0) -> bytes:
    """Bytes from `sock` until `marker` has been seen `count` times."""
    sock.settimeout(timeout)
    received = b""
    while received.count(marker) < count:
        chunk = sock.recv(65536)
        if not chunk:
            break
        received += chunk
    return received


def chat_line(custom_id: str, text: str, model: str = "sim-gpt", **body: object) -> dict:
    """One OpenAI batch input line asking chat completions to answer `text`."""
    messages = [{"role": "user", "content": text}]
    return {
        "custom_id": custom_id,
        "method": "POST",
        "url": "/v1/chat/completions",
        "body": {"model": model, "messages": messages, **body},
    }


def jsonl(lines: list) -> bytes:
    """`lines` as JSON Lines (dicts are dumped, strings kept as they are)."""
    import json

    return "\n".join(x if isinstance(x, str) else json.dumps(x) for x in lines).encode() + b"\n"


def message_request(custom_id: str, text: str, **params: object) -> dict:
    """One Anthropic Message Batches request answering `text`."""
    messages = [{"role": "user", "content": text}]
    return {
        "custom_id": custom_id,
        "params": {"model": "claude-sim", "max_tokens": 100, "messages": messages, **params},
    }
