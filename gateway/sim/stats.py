"""Per-request records the tests read back through `GET /_sim/stats`.

Token times are kept in arrays of doubles, whose numbers the garbage collector does not walk:
as lists of floats, the 20,000 records kept made every full collection of the simulator walk
about two million floats, stalling every stream it served for 50-80 ms (seen by the benchmark
as gaps of every stream through the gateway at once)."""

from __future__ import annotations

import time
from array import array
from collections import deque
from dataclasses import dataclass, field
from typing import Any

MAX_RECORDS = 20_000


@dataclass(slots=True)
class RequestRecord:
    """What the simulator saw and sent for one request."""

    id: int
    path: str
    api: str
    api_key: str | None
    request_id: str | None
    started_at: float = field(default_factory=time.time)
    model: str | None = None
    stream: bool = False
    tag: str | None = None
    first_token_at: float | None = None
    token_times: array[float] = field(default_factory=lambda: array("d"))
    tokens_sent: int = 0
    completed: bool = False
    closed_at: float | None = None
    status_code: int | None = None
    error: str | None = None
    body_keys: list[str] = field(default_factory=list)
    stream_options: Any = None

    def add_token(self, at: float) -> None:
        """Note one token chunk sent at wall-clock time `at`."""
        if self.first_token_at is None:
            self.first_token_at = at
        self.token_times.append(at)
        self.tokens_sent += 1

    def as_dict(self) -> dict[str, Any]:
        """The record as the stats endpoint shows it."""
        return {
            "id": self.id,
            "path": self.path,
            "api": self.api,
            "model": self.model,
            "stream": self.stream,
            "tag": self.tag,
            "api_key": self.api_key,
            "request_id": self.request_id,
            "started_at": self.started_at,
            "first_token_at": self.first_token_at,
            "token_times": self.token_times.tolist(),
            "tokens_sent": self.tokens_sent,
            "completed": self.completed,
            "closed_at": self.closed_at,
            "status_code": self.status_code,
            "error": self.error,
            "body_keys": self.body_keys,
            "stream_options": self.stream_options,
        }


class StatsStore:
    """The newest records, oldest dropped first."""

    def __init__(self, limit: int = MAX_RECORDS) -> None:
        self._records: deque[RequestRecord] = deque(maxlen=limit)
        self._next_id = 0

    def open(
        self, path: str, api: str, api_key: str | None, request_id: str | None
    ) -> RequestRecord:
        """Start and keep the record of a new request."""
        self._next_id += 1
        record = RequestRecord(self._next_id, path, api, api_key, request_id)
        self._records.append(record)
        return record

    def query(self, tag: str | None = None) -> list[dict[str, Any]]:
        """Records oldest first, only those with `tag` if given."""
        return [r.as_dict() for r in self._records if tag is None or r.tag == tag]

    def reset(self) -> None:
        """Forget every record."""
        self._records.clear()
