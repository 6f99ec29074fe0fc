"""The batch queue: which deferred call to look at next, per lane (provider, model).

Two implementations with the same semantics: `MemoryQueue` (one process, the embedded default)
and `RedisQueue` (Redis Streams with a consumer group, `redis_queue`). An entry read stays held
by its reader until acked; the reader acks it only once the call's outcome (or its hand-off to a
provider job) is durable in the database. The database is the source of truth: the worker pushes
again any queued call the queue does not hold (`missing`), so a lost queue loses nothing, and a
call pushed twice is still run once (its status changes by conditional UPDATE).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

Lane = tuple[str, str]  # (provider, model)


@dataclass(frozen=True, slots=True)
class Entry:
    lane: Lane
    call_id: str
    token: str  # the stream entry id (Redis) or a sequence number (in-process)


class Queue(Protocol):
    async def start(self, lanes: Iterable[Lane]) -> None: ...

    async def push(self, lane: Lane, call_ids: Sequence[str]) -> None: ...

    async def read(self, count: int, wait: float) -> list[Entry]:
        """Up to `count` entries no reader holds, waiting up to `wait` seconds for one."""
        ...

    async def ack(self, entries: Sequence[Entry], *, forget: bool = True) -> None:
        """Done with these entries; `forget=False` for a duplicate of an entry still held."""
        ...

    async def touch(self, entries: Sequence[Entry]) -> None:
        """Still held: keep `reclaim` from handing these to another reader."""
        ...

    async def reclaim(self, idle: float) -> list[Entry]:
        """Entries another reader has held for `idle` seconds without a touch (it died)."""
        ...

    async def missing(self, call_ids: Sequence[str]) -> list[str]:
        """The ids the queue holds no entry for."""
        ...

    async def close(self) -> None: ...


class MemoryQueue:
    """The embedded queue: one process, rebuilt from the database at start (by the worker)."""

    def __init__(self) -> None:
        self._ready: deque[Entry] = deque()
        self._ids: set[str] = set()
        self._wake = asyncio.Event()
        self._tokens = itertools.count(1)

    async def start(self, lanes: Iterable[Lane]) -> None:
        return None

    async def push(self, lane: Lane, call_ids: Sequence[str]) -> None:
        for call_id in call_ids:
            if call_id not in self._ids:
                self._ids.add(call_id)
                self._ready.append(Entry(lane, call_id, str(next(self._tokens))))
        if self._ready:
            self._wake.set()

    async def read(self, count: int, wait: float) -> list[Entry]:
        if not self._ready:
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), wait)
        taken = min(count, len(self._ready))
        return [self._ready.popleft() for _ in range(taken)]

    async def ack(self, entries: Sequence[Entry], *, forget: bool = True) -> None:
        if forget:
            for entry in entries:
                self._ids.discard(entry.call_id)

    async def touch(self, entries: Sequence[Entry]) -> None:
        return None

    async def reclaim(self, idle: float) -> list[Entry]:
        return []  # the only reader is this process

    async def missing(self, call_ids: Sequence[str]) -> list[str]:
        return [call_id for call_id in call_ids if call_id not in self._ids]

    @property
    def depth(self) -> int:
        return len(self._ready)

    async def close(self) -> None:
        return None
