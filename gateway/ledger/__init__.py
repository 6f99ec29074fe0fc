"""The spend ledger: one record per call, written off the request path."""

from __future__ import annotations

from typing import Protocol

from gateway.calls import Call


class LedgerSink(Protocol):
    def record(self, call: Call) -> None:
        """Take a finished call; must not block or touch the database on the request path."""

    async def start(self) -> None: ...

    async def close(self) -> None: ...


class NullLedger:
    """Keeps nothing (used where no ledger is configured, e.g. unit tests)."""

    def record(self, call: Call) -> None:
        return None

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None
