"""Where ledger rows wait while the database is down: an append-only local file.

Lines are JSON rows. Appends hold an exclusive `flock`, so several gateway processes can share
one spool; a replay first renames the file aside (under the same lock) and deletes it only after
every row in it was written, so a crash mid-replay replays it again (inserts are idempotent).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Awaitable, Callable, Iterator, Sequence
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson

from gateway.ledger.models import complete_row

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: a single gateway process per spool
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger("gateway.ledger")

Rows = list[dict[str, Any]]
WriteRows = Callable[[Rows], Awaitable[object]]
_TIMESTAMPS = ("created_at", "finished_at")


def encode_row(row: dict[str, Any]) -> bytes:
    """JSON; money (Decimal) as its exact decimal text."""
    return orjson.dumps(row, default=_exact)


def _exact(value: Any) -> str:
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def decode_row(line: bytes | str) -> dict[str, Any]:
    return revive_row(orjson.loads(line))


def revive_row(row: dict[str, Any]) -> dict[str, Any]:
    """A row read back from JSON: timestamps are datetimes again, money stays text (the Money
    column reads it exactly), and a row spooled by an older gateway gets its newer columns."""
    for key in _TIMESTAMPS:
        if isinstance(row.get(key), str):
            row[key] = datetime.fromisoformat(row[key])
    return complete_row(row)


@contextlib.contextmanager
def _locked(path: Path, *, blocking: bool = True) -> Iterator[bool]:
    """An exclusive lock on `path`; yields False if `blocking` is off and it is taken."""
    with open(path, "a") as handle:
        if fcntl is None:
            yield True
            return
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


class FileSpool:
    """An append-only JSON-lines file plus the one being replayed (`.replaying`)."""

    name = "file"

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.replaying = self.path.with_name(self.path.name + ".replaying")
        self._append_lock = self.path.with_name(self.path.name + ".lock")
        self._replay_lock = self.path.with_name(self.path.name + ".replay-lock")
        self.pending = self._count_lines()

    def _count_lines(self) -> int:
        total = 0
        for path in (self.replaying, self.path):
            with contextlib.suppress(FileNotFoundError), open(path, "rb") as handle:
                total += sum(1 for line in handle if line.strip())
        return total

    def push_now(self, rows: Sequence[dict[str, Any]]) -> None:
        """Append rows durably (written and fsynced before returning)."""
        if not rows:
            return
        data = b"".join(encode_row(row) + b"\n" for row in rows)
        with _locked(self._append_lock):
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, data)
                os.fsync(fd)
            finally:
                os.close(fd)
        self.pending += len(rows)

    async def push(self, rows: Sequence[dict[str, Any]]) -> None:
        await asyncio.to_thread(self.push_now, rows)  # fsync stays off the event loop

    async def replay(self, write: WriteRows, batch_size: int) -> int:
        """Write every spooled row with `write`; rows stay spooled if it raises."""
        with _locked(self._replay_lock, blocking=False) as mine:
            if not mine:
                return 0  # another process is replaying this spool
            if not self.replaying.exists():
                with _locked(self._append_lock):
                    if not self.path.exists():
                        self.pending = 0
                        return 0
                    os.replace(self.path, self.replaying)
            written = 0
            for rows in self._batches(batch_size):
                await write(rows)
                written += len(rows)
            self.replaying.unlink()
            self.pending = self._count_lines()
            return written

    def _batches(self, batch_size: int) -> Iterator[Rows]:
        rows: Rows = []
        with open(self.replaying, "rb") as handle:
            for number, line in enumerate(handle, 1):
                if not line.strip():
                    continue
                try:
                    rows.append(decode_row(line))
                except (orjson.JSONDecodeError, ValueError):
                    # A line cut short by a crash while appending; the rest is intact.
                    log.error(
                        "ledger spool %s line %d is not a row; skipped", self.replaying, number
                    )
                    continue
                if len(rows) >= batch_size:
                    yield rows
                    rows = []
        if rows:
            yield rows

    async def count(self) -> int:
        return self.pending

    async def has_rows(self) -> bool:
        """Cheap: whether a spool file exists (this or another process may have written it)."""
        return self.path.exists() or self.replaying.exists()
