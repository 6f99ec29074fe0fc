"""The ledger writer: finished calls in, batched idempotent inserts out, off the request path.

`record()` only appends to a bounded in-memory queue. A background task costs the calls (the
tokenizer runs in a thread; each call on its own, so one that cannot be costed loses no other)
and inserts up to `batch_size` rows at a time (small batches: each holds the event loop for a
millisecond or two). When the database is unreachable the rows go to a spool (Redis when
configured, else a local file; the file is also the fallback for Redis) and are replayed once
it answers again. A row the database refuses becomes a dead letter. Calls leave the queue only
once their rows exist; a row is counted in the metrics, and its call marked committed in the
call journal, once it is durably taken (inserted or spooled). Shutdown writes or spools
everything still queued."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from gateway import tokens
from gateway.calls import Call
from gateway.ledger.database import (
    Database,
    DatabaseUnavailable,
    RowRejected,
    describe,
    is_row_error,
)
from gateway.ledger.dead_letters import DeadLetters, Letter, dead_letter_path, dead_row
from gateway.ledger.rows import cost_calls, needs_tokenizer, observe_rows
from gateway.ledger.spool import FileSpool, Rows, WriteRows
from gateway.loop_thread import LoopThread
from gateway.metrics import LEDGER_DEAD_LETTERS, LEDGER_PENDING

if TYPE_CHECKING:
    from gateway.ledger.journal import Journal

log = logging.getLogger("gateway.ledger")

# How long the first call of a batch waits for the rest. Short: each batch is small, so the
# writer's thread takes the interpreter lock from the event loop in short turns. 0.2 s gave
# concurrency-1 added p99 3.1-4.5 ms over five runs, 0.02 s 1.9-3.3 ms, with throughput
# unchanged. 8 ms did no better than 20 in three alternating runs (bench/RESULTS.md).
INTERVAL = 0.02
METER_SLICE = 64  # calls costed on the event loop between two chances for requests to run


class Spool(Protocol):
    name: str
    pending: int

    async def push(self, rows: Sequence[dict[str, Any]]) -> None: ...

    async def replay(self, write: WriteRows, batch_size: int) -> int: ...

    async def count(self) -> int: ...

    async def has_rows(self) -> bool: ...


class LedgerWriter:
    """A `LedgerSink` writing to `database`; on outages it spools to Redis, else the file."""

    def __init__(
        self,
        database: Database,
        file_spool: FileSpool,
        redis_spool: Spool | None = None,
        *,
        dead_letters: DeadLetters | None = None,
        journal: Journal | None = None,
        billing: Mapping[str, str] | None = None,
        batch_size: int = 1000,
        interval: float = INTERVAL,
        max_queue: int = 10_000,
        write_timeout: float = 10.0,
        check_interval: float = 2.0,
    ) -> None:
        self.database = database
        self.file_spool = file_spool  # also written synchronously when the queue is full
        self.spools: list[Spool] = (
            [file_spool] if redis_spool is None else [redis_spool, file_spool]
        )
        self.dead_letters = dead_letters or DeadLetters(dead_letter_path(file_spool.path))
        self.journal = journal  # told which calls are durably taken
        self.costed: Callable[[Rows], None] | None = None  # told each row once it is costed
        self.billing = billing or {}
        self.batch_size = batch_size
        self.interval = interval
        self.max_queue = max_queue
        self.write_timeout = write_timeout
        self.check_interval = check_interval
        self._queue: deque[Call] = deque()
        self._taken = 0  # calls out of the queue whose rows are being made
        self._unspooled: Rows = []  # only when every spool failed too
        self._wake = asyncio.Event()
        self._idle = False  # the writer sleeps until `record` wakes it
        self._busy = False  # the last batch had calls: more are likely, no wake-up needed
        self._thread: LoopThread | None = None  # where `_run` runs, once started
        self._main_loop: asyncio.AbstractEventLoop | None = None
        self._running: concurrent.futures.Future[None] | None = None
        self._closing = False
        self._down_until = 0.0
        self._backoff = 0.0
        self._next_check = 0.0
        LEDGER_DEAD_LETTERS.set(self.dead_letters.pending)

    def record(self, call: Call) -> None:
        """Queue a finished call: O(1), no I/O on the request path.

        Past `max_queue` the writer task moves whole batches to the spool; only if it has
        stalled (twice `max_queue` waiting) does a call go to the spool file directly.
        """
        if self._closing or len(self._queue) >= 2 * self.max_queue:
            self._spool_now(call)
        else:
            self._queue.append(call)
            # the writer sleeps until a call comes (this one), or a batch is full
            if self._idle or len(self._queue) == self.batch_size:
                self._idle = False
                self._nudge()
        LEDGER_PENDING.set(self.pending)

    def _nudge(self) -> None:
        """Wake the writer (on its own thread's loop once started)."""
        if self._thread is not None and not self._thread.is_current():
            self._thread.call_soon(self._wake.set)
        else:
            self._wake.set()

    def _spool_now(self, call: Call) -> None:
        rows, letters = self._cost([call])
        self._tell(rows)
        try:
            self.file_spool.push_now(rows)
            self._accepted(rows)
            self._keep_now(letters)
        except Exception as exc:  # never fail the call itself; the journal still has it
            log.error("ledger: could not spool call %s (%s); it stays in the call journal",
                      call.id, exc)

    @property
    def pending(self) -> int:
        """Rows not yet in the database: queued, held, and spooled."""
        spooled = sum(spool.pending for spool in self.spools)
        return len(self._queue) + self._taken + len(self._unspooled) + spooled

    async def start(self) -> None:
        """Run the writer on an event loop of its own, in its own thread: under load the
        request loop serves every ready call between two of the writer's awaits, and the
        ledger fell behind. `record` (request loop) and the writer share only a deque; the
        writer's database engine, spools and waits all belong to its loop."""
        self._main_loop = asyncio.get_running_loop()
        self._thread = LoopThread("ledger-writer")
        self._thread.start()
        self._running = self._thread.submit(self._run())

    async def close(self) -> None:
        """Write (or spool) everything queued, then stop."""
        self._closing = True
        self._nudge()
        if self._running is not None and self._thread is not None:
            await asyncio.wrap_future(self._running)
            await asyncio.to_thread(self._thread.stop)
        else:
            await self._release()
        if self._unspooled:
            log.error(
                "ledger: %d rows could be neither written nor spooled; their calls stay in "
                "the call journal for the next start",
                len(self._unspooled),
            )
        LEDGER_PENDING.set(self.pending)

    async def flush(self) -> None:
        """Write (or spool) everything queued now (on the writer's loop once it runs)."""
        if self._thread is not None and not self._thread.is_current() and not self._closing:
            await asyncio.wrap_future(self._thread.submit(self._flush()))
        else:
            await self._flush()

    async def _flush(self) -> None:
        await self._shed_overflow()
        while self._queue:
            await self._flush_batch()
        if self._unspooled:
            rows, self._unspooled = self._unspooled, []
            await self._store(rows)

    async def _run(self) -> None:
        while not self._closing:
            await self._gather()
            try:
                self._busy = bool(self._queue)
                await self._flush()
                if time.monotonic() >= self._next_check and self._database_up():
                    self._next_check = time.monotonic() + self.check_interval
                    LEDGER_DEAD_LETTERS.set(self.dead_letters.refresh())
                    await self.replay()
            except Exception:  # the writer must outlive any one bad cycle
                log.exception("ledger writer cycle failed; retrying")
            LEDGER_PENDING.set(self.pending)
        await self._flush()
        await self._release()

    async def _gather(self) -> None:
        """Sleep until there is work; each wake-up takes the interpreter lock from the
        request loop. While calls come, the writer wakes once an `interval`, and a batch is
        what came meanwhile (a full batch, or closing, cuts the wait short). After an interval
        without calls it sleeps until `record` wakes it with the next one (or until the next
        spool check), then waits `interval` for the rest of that batch."""
        if not self._queue and not self._busy and not self._unspooled:
            self._idle = True
            if not self._queue:  # a call queued before the flag was up does not wake it
                await self._sleep(max(self._next_check, self._down_until) - time.monotonic())
            self._idle = False
        if not self._closing:
            self._wake.clear()  # a wake-up before now was for the calls already queued
            if len(self._queue) < self.batch_size:
                await self._sleep(self.interval)

    async def _sleep(self, seconds: float) -> None:
        """Up to `seconds`, or until `_nudge`."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), max(seconds, 0.0))
        self._wake.clear()

    async def _release(self) -> None:
        """Close what belongs to the writer's loop: its database connections, its spools'."""
        for spool in self.spools:
            closing = getattr(spool, "close", None)
            if closing is not None:
                with contextlib.suppress(Exception):
                    await closing()
        await self.database.close()

    async def _shed_overflow(self) -> None:
        """Calls arrive faster than the database takes them: spool the oldest, a batch at a time."""
        while len(self._queue) > self.max_queue:
            count = min(self.batch_size, len(self._queue) - self.max_queue)
            await self._park(await self._take(count))

    async def _flush_batch(self) -> None:
        rows = await self._take(min(len(self._queue), self.batch_size))
        rows, self._unspooled = self._unspooled + rows, []
        await self._store(rows)

    async def _take(self, count: int) -> Rows:
        """The rows of the oldest `count` calls (counted as pending until their rows exist;
        costing never raises: a call it cannot cost becomes a dead letter)."""
        batch = [self._queue.popleft() for _ in range(count)]
        self._taken += count
        try:
            return await self._meter(batch)
        finally:
            self._taken -= count

    async def _meter(self, batch: list[Call]) -> Rows:
        """Rows for `batch`; a call that cannot be costed at all is kept as a dead letter.

        Calls the tokenizer must count are costed in a thread; the others on the event loop,
        `METER_SLICE` at a time with requests served in between (a row takes ~20 us)."""
        rows: Rows = []
        letters: list[Letter] = []
        counted = [call for call in batch if needs_tokenizer(call)]
        if counted:
            rows, letters = await tokens.off_loop(self._cost, counted)
            batch = [call for call in batch if not needs_tokenizer(call)]
        for start in range(0, len(batch), METER_SLICE):
            sliced_rows, sliced_letters = self._cost(batch[start : start + METER_SLICE])
            rows += sliced_rows
            letters += sliced_letters
            await asyncio.sleep(0)
        await self._bury(letters)
        self._tell(rows)
        return rows

    def _cost(self, batch: list[Call]) -> tuple[Rows, list[Letter]]:
        return cost_calls(batch, self.billing)

    def _tell(self, rows: Rows) -> None:
        """Hand freshly costed rows to `costed` (the limits settle on them, on the request
        loop's thread, which owns them)."""
        if self.costed is not None and rows:
            self._on_main(self._settle, rows)

    def _settle(self, rows: Rows) -> None:
        assert self.costed is not None
        try:
            self.costed(rows)
        except Exception:
            log.exception("ledger: settling the limits of %d rows failed", len(rows))

    def _on_main(self, callback: Callable[..., object], *args: object) -> None:
        """Run `callback` on the request loop's thread: at once there, else handed over."""
        if self._thread is not None and self._thread.is_current() and self._main_loop:
            self._main_loop.call_soon_threadsafe(callback, *args)
        else:
            callback(*args)

    async def _store(self, rows: Rows) -> None:
        """New rows: into the database, else a spool, else held in memory."""
        if not rows:
            return
        if self._database_up():
            try:
                self._accepted(await self.insert(rows))
                return
            except DatabaseUnavailable as exc:
                self._mark_down(exc)
        await self._park(rows)

    async def _park(self, rows: Rows) -> None:
        if await self._spool(rows):
            self._accepted(rows)

    def _accepted(self, rows: Rows) -> None:
        """New rows are durably taken: count them once, and release their calls' journal."""
        if rows:
            observe_rows(rows)
            self._committed([row["id"] for row in rows])

    def _committed(self, ids: list[str]) -> None:
        """Tell the call journal (which belongs to the request loop's thread)."""
        if self.journal is not None and ids:
            self._on_main(self.journal.committed, ids)

    async def insert(self, rows: Rows) -> Rows:
        """Insert rows (idempotently); rows the database refuses become dead letters.

        Returns the rows that went in."""
        try:
            await self._write(rows)
            landed = rows
        except RowRejected:
            landed, refused = [], []
            for row in rows:
                try:
                    await self._write([row])
                    landed.append(row)
                except RowRejected as exc:
                    refused.append(dead_row(row, str(exc)))
            await self._bury(refused)
        self._mark_up()
        return landed

    async def _write(self, rows: Rows) -> None:
        await write_rows(self.database, rows, self.write_timeout)

    async def _bury(self, letters: list[Letter]) -> None:
        """Keep dead letters (appended and fsynced off the event loop)."""
        if not letters:
            return
        try:
            await asyncio.to_thread(self.dead_letters.push_now, letters)
        except Exception as exc:
            log.error(
                "ledger: could not keep %d dead letters (%s); their calls stay in the call "
                "journal", len(letters), exc,
            )
            return
        self._buried(letters)

    def _keep_now(self, letters: list[Letter]) -> None:
        if letters:
            self.dead_letters.push_now(letters)
            self._buried(letters)

    def _buried(self, letters: list[Letter]) -> None:
        for letter in letters:  # the id and the reason only: rows hold prompts' owners, keys
            log.error(
                "ledger: call %s kept as a dead letter in %s: %s",
                letter["id"], self.dead_letters.path, letter["reason"],
            )
        self._committed([letter["id"] for letter in letters])
        LEDGER_DEAD_LETTERS.set(self.dead_letters.pending)

    async def _spool(self, rows: Rows) -> bool:
        for spool in self.spools:
            try:
                await spool.push(rows)
                return True
            except Exception as exc:
                log.warning("ledger: could not spool %d rows to %s: %s", len(rows), spool.name, exc)
        log.error("ledger: every spool failed; holding %d rows in memory", len(rows))
        self._unspooled = rows + self._unspooled
        return False

    async def spool_recovered(self, calls: list[Call], estimated: set[str]) -> None:
        """Rows of calls read back from a stopped process's journal, spooled (fsynced) for the
        normal replay; `estimated` names those whose tokens are a guess."""
        rows = await self._meter(calls)
        for row in rows:
            if row["id"] in estimated:
                row["token_source"] = "estimated"
        await self.file_spool.push(rows)
        observe_rows(rows)
        LEDGER_PENDING.set(self.pending)

    async def replay(self) -> int:
        """Write what the spools hold; stops at the first sign the database is down."""
        written = 0
        for spool in self.spools:
            try:
                if not await spool.has_rows():
                    continue
                written += await spool.replay(self.insert, self.batch_size)
            except DatabaseUnavailable as exc:
                self._mark_down(exc)
                break
            except Exception as exc:
                log.warning("ledger: could not replay the %s spool: %s", spool.name, exc)
        if written:
            log.info("ledger: replayed %d spooled rows", written)
        return written

    def _database_up(self) -> bool:
        return time.monotonic() >= self._down_until

    def _mark_down(self, exc: Exception) -> None:
        self._backoff = min(max(self._backoff * 2, 0.25), 5.0)
        self._down_until = time.monotonic() + self._backoff
        log.warning(
            "ledger database unavailable (%s); spooling, retry in %.2fs", exc, self._backoff
        )

    def _mark_up(self) -> None:
        if self._backoff:
            log.info("ledger database is back; replaying the spool")
            self._next_check = 0.0
        self._backoff = 0.0
        self._down_until = 0.0


async def write_rows(database: Database, rows: Sequence[dict[str, Any]], within: float) -> None:
    """Insert rows; raises `RowRejected` (the database refused them) or `DatabaseUnavailable`."""
    try:
        await asyncio.wait_for(database.write_calls(rows), within)
    except Exception as exc:
        if is_row_error(exc):
            raise RowRejected(describe(exc)) from exc
        raise DatabaseUnavailable(describe(exc)) from exc
