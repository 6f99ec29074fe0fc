"""Dead letters: what the ledger could not write, kept for an operator instead of only logged.

A row the database refuses (bad data, a constraint) or a call that could not even be costed
goes to an append-only JSON-lines file next to the spool (`<spool>.dead-letters`, fsynced), one
entry per line: `{"id", "reason", "at", "row"}` or `{"id", "reason", "at", "call"}` (the call's
facts, costed again on replay). `gateway ledger dead-letters` lists them; `gateway ledger
replay-dead-letters` writes what the database now takes and keeps the rest.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from gateway.calls import Call, opening, outcome, restore
from gateway.ledger.spool import FileSpool, Rows, revive_row

Letter = dict[str, Any]
REPLAY_BATCH = 100


def dead_letter_path(spool: Path) -> Path:
    return spool.with_name(spool.stem + ".dead-letters")


def dead_row(row: dict[str, Any], reason: str) -> Letter:
    return {"id": row["id"], "reason": reason, "at": datetime.now(UTC), "row": row}


def dead_call(call: Call, reason: str) -> Letter:
    facts = {**opening(call), **outcome(call, text=True), "body": call.request_body}
    return {"id": call.id, "reason": reason, "at": datetime.now(UTC), "call": facts}


class DeadLetters(FileSpool):
    """The dead-letter file (and `.replaying` while a replay runs); `pending` counts entries."""

    name = "dead letters"

    def __init__(self, path: str | Path) -> None:
        super().__init__(path)
        self._seen = self._stamp()

    def entries(self) -> list[Letter]:
        letters: list[Letter] = []
        for path in (self.replaying, self.path):
            with contextlib.suppress(FileNotFoundError), open(path, "rb") as handle:
                letters.extend(_letter(line) for line in handle if line.strip())
        return letters

    def refresh(self) -> int:
        """Recount if another process (a replay) changed the file; the entry count."""
        stamp = self._stamp()
        if stamp != self._seen:
            self._seen = stamp
            self.pending = self._count_lines()
        return self.pending

    async def replay_letters(
        self,
        write: Callable[[dict[str, Any]], Awaitable[None]],
        cost: Callable[[Call], dict[str, Any]],
    ) -> tuple[int, int]:
        """Write each entry's row with `write` (a call's, costed with `cost` first); an entry
        whose write raises is kept, with the new reason. Returns (written, kept)."""
        counts = [0, 0]

        async def write_batch(letters: Rows) -> None:
            kept: list[Letter] = []
            for letter in letters:
                try:
                    if "call" in letter:
                        row = cost(restore(letter["call"]))
                    else:
                        row = revive_row(letter["row"])
                    await write(row)
                    counts[0] += 1
                except Exception as exc:
                    kept.append({**letter, "reason": str(exc), "at": datetime.now(UTC)})
            if kept:
                self.push_now(kept)
                counts[1] += len(kept)

        await self.replay(write_batch, REPLAY_BATCH)
        self._seen = self._stamp()
        return counts[0], counts[1]

    def _stamp(self) -> tuple[int, ...]:
        stamp: list[int] = []
        for path in (self.path, self.replaying):
            try:
                info = os.stat(path)
            except FileNotFoundError:
                stamp += [-1, -1]
            else:
                stamp += [info.st_size, info.st_mtime_ns]
        return tuple(stamp)


def _letter(line: bytes) -> Letter:
    try:
        letter = orjson.loads(line)
    except orjson.JSONDecodeError:
        return {"id": "?", "reason": "a line cut short (a crash while appending)", "at": None}
    return letter if isinstance(letter, dict) else {"id": "?", "reason": "not an entry"}
