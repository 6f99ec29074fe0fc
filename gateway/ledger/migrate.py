"""Alembic, driven from code: `gateway migrate`, and the schema check at start."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

import gateway

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no cross-process lock for SQLite
    fcntl = None  # type: ignore[assignment]

_process_lock = threading.Lock()  # Alembic's `context` is process-global: one run at a time
# `migrations/` at the repository root; installed inside the package (see pyproject.toml).
MIGRATIONS = Path(gateway.__file__).resolve().parent / "migrations"


def alembic_config(url: str) -> Config:
    """An Alembic config for `url`; env.py reads the URL from `attributes`."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS).replace("%", "%%"))
    config.attributes["database_url"] = url
    return config


def upgrade(url: str, revision: str = "head") -> None:
    """Bring the schema to `revision`; safe to run from several processes at once."""
    with _process_lock, _sqlite_lock(url):
        command.upgrade(alembic_config(url), revision)


def downgrade(url: str, revision: str) -> None:
    with _process_lock, _sqlite_lock(url):
        command.downgrade(alembic_config(url), revision)


def head() -> str | None:
    return ScriptDirectory.from_config(alembic_config("")).get_current_head()


async def current(engine: AsyncEngine) -> str | None:
    """The revision the database is at (None before the first migration)."""
    async with engine.connect() as conn:
        return await conn.run_sync(
            lambda sync: MigrationContext.configure(sync).get_current_revision()
        )


@contextlib.contextmanager
def _sqlite_lock(url: str) -> Iterator[None]:
    """Postgres migrations take an advisory lock in env.py; SQLite ones take a file lock."""
    parsed = make_url(url)
    database = parsed.database
    if parsed.get_backend_name() != "sqlite" or not database or database == ":memory:" or not fcntl:
        yield
        return
    lock_path = Path(database).with_name(Path(database).name + ".migrate-lock")
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


if __name__ == "__main__":  # the child process of `schema.upgrade_in_child`
    import sys

    upgrade(sys.stdin.read().strip())
