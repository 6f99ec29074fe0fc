"""Call rows into a SQLite ledger through a plain `sqlite3` connection, synchronously.

The ledger writer has a thread of its own, so it can afford to wait on SQLite: the library's
work runs with the interpreter lock released. Through the async engine, each batch also went
through aiosqlite's thread (a queue and a future per statement, with a hop back to the
writer's loop) and SQLAlchemy's greenlet adaptation, which held the interpreter lock for
~200 us a row at concurrency 1 (py-spy --gil), time the request loop waited for.

Same statements and parameters as through the engine (`CallInsert.statements`, many rows to
a statement), in one transaction: a statement takes the interpreter lock once, to bind its
parameters, and runs its rows without it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from gateway.ledger.call_insert import ROWS_PER_STATEMENT, CallInsert

BUSY_TIMEOUT = 5.0  # seconds a locked database is waited for before the rows go to the spool


class SqliteCalls:
    def __init__(self, path: Path, insert: CallInsert) -> None:
        self.path = path
        self.insert = insert
        self._conn: sqlite3.Connection | None = None
        self._per_statement = 1  # rows to a statement, within the build's parameter limit

    def write(self, rows: Sequence[dict[str, Any]]) -> None:
        """Insert the rows (a row whose id is there already is skipped), all or none."""
        conn = self._connection()
        conn.execute("BEGIN IMMEDIATE")
        try:
            for sql, values in self.insert.statements(rows, self._per_statement):
                conn.execute(sql, values)
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            sqlite_pragmas(conn, BUSY_TIMEOUT)
            most = conn.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
            self._per_statement = max(1, min(ROWS_PER_STATEMENT, most // len(self.insert.names)))
            self._conn = conn
        return self._conn



def sqlite_pragmas(conn: Any, busy_timeout: float) -> None:
    """Every ledger connection's settings (the engine's, and the writer's own)."""
    cursor = conn.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")  # readers (CLI, API) never block the writer
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout * 1000)}")
    cursor.close()
