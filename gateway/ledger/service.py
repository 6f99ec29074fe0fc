"""The ledger as the running gateway uses it: database, writer, spools, call journal, keys and
queries."""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import make_url

from gateway.auth import Authenticator
from gateway.calls import Call
from gateway.config import Settings
from gateway.ledger.database import Database, sqlite_path
from gateway.ledger.journal import Journal
from gateway.ledger.keyring import KeySync
from gateway.ledger.keys import KeyStore
from gateway.ledger.queries import LedgerQueries
from gateway.ledger.spool import FileSpool
from gateway.ledger.writer import LedgerWriter

log = logging.getLogger("gateway.ledger")

START_TIMEOUT = 30.0


def database_tag(url: str) -> str:
    """A short stable name for a database: spooled rows only ever replay into their own."""
    path = sqlite_path(url)
    rendered = str(path.resolve()) if path else make_url(url).render_as_string(hide_password=True)
    return hashlib.sha256(rendered.encode()).hexdigest()[:12]


def spool_path(settings: Settings, spool_dir: str | Path | None = None) -> Path:
    """Next to the SQLite database; for Postgres, in the working directory (or `spool_dir`)."""
    database = sqlite_path(settings.database_url)
    if database is not None and spool_dir is None:
        return database.with_name(database.name + ".spool")
    name = f"gateway-ledger-{database_tag(settings.database_url)}.spool"
    return Path(spool_dir or ".") / name


def journal_dir(settings: Settings, spool_dir: str | Path | None = None) -> Path:
    """`journal_dir`, else `gateway-journal-<database tag>` beside the SQLite database, or for
    Postgres in the working directory (or `spool_dir`)."""
    if settings.journal_dir:
        return Path(settings.journal_dir)
    name = f"gateway-journal-{database_tag(settings.database_url)}"
    database = sqlite_path(settings.database_url)
    if database is not None and spool_dir is None:
        return database.with_name(name)
    return Path(spool_dir or ".") / name


class Ledger:
    """A `LedgerSink`; also answers the admin API (keys, records, spend)."""

    def __init__(
        self,
        settings: Settings,
        *,
        spool_dir: str | Path | None = None,
        redis_prefix: str = "gateway:",
        **writer_options: Any,
    ) -> None:
        self.database = Database(settings)
        self.keys = KeyStore(self.database)
        self.queries = LedgerQueries(self.database)
        self.redis_spool = None
        if settings.redis_url:  # imported only when used: redis-py is ~6 MB resident
            from gateway.ledger.redis_spool import RedisSpool

            self.redis_spool = RedisSpool.from_url(
                settings.redis_url, redis_prefix, database_tag(settings.database_url)
            )
        billing = {p.name: p.billing_after_cancel for p in settings.providers}
        tag = database_tag(settings.database_url)
        self.journal = Journal(journal_dir(settings, spool_dir), tag)
        self.writer = LedgerWriter(
            # its own engine: the writer runs on a loop of its own
            Database(settings).shares_schema_with(self.database),
            FileSpool(spool_path(settings, spool_dir)),
            self.redis_spool,
            journal=self.journal,
            billing=billing,
            **writer_options,
        )
        self._key_sync: KeySync | None = None

    def record(self, call: Call) -> None:
        self.writer.record(call)

    def serve_keys_to(
        self, auth: Authenticator, limits: Callable[[list[dict[str, Any]]], None] | None = None
    ) -> None:
        """Keep `auth`'s stored keys (and `limits`, the stored keys' limits) in step with the
        key table while running."""
        self._key_sync = KeySync(self.keys, auth, limits=limits)

    async def refresh_keys(self) -> None:
        if self._key_sync is not None:
            await self._key_sync.refresh()

    async def start(self) -> None:
        """Open the journal and spool what dead processes left in theirs; migrate and load keys
        (a database that is down delays records, not the start)."""
        try:
            self.journal.open()
        except OSError as exc:
            log.error("call journal %s cannot be opened (%s): calls are not journaled, so a "
                      "crash of this process can lose the last ones", self.journal.directory, exc)
        await self.recover()
        try:
            await asyncio.wait_for(self.database.ensure_ready(), START_TIMEOUT)
        except Exception as exc:
            log.error(
                "ledger database %s unavailable at start (%s): records will be spooled "
                "until it answers",
                self.database.engine.url.render_as_string(),
                exc,
            )
        await self.writer.start()
        if self._key_sync is not None:
            await self._key_sync.start()

    async def recover(self) -> None:
        """Calls journaled by processes that died become rows in the spool (fsynced); then
        their journal files go. A failure keeps the files for the next start."""
        recovery = await asyncio.to_thread(self.journal.recover)
        if not recovery.files:
            return
        try:
            await self.writer.spool_recovered(recovery.calls, recovery.interrupted)
        except Exception:
            log.exception("ledger: could not spool the calls of a stopped process's journal")
            recovery.release()
            return
        recovery.remove()
        log.warning(
            "ledger: recovered %d calls from the journal of a stopped gateway process "
            "(%d interrupted mid-call)", len(recovery.calls), len(recovery.interrupted),
        )

    async def close(self) -> None:
        if self._key_sync is not None:
            await self._key_sync.close()
        await self.writer.close()  # closes its own database engine and spools
        await asyncio.to_thread(self.journal.close)
        await self.database.close()
