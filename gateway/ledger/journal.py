"""The call journal: every proxied call on local disk from its start, so a crash loses none.

The ledger writer holds finished calls in memory for a fraction of a second before they are
rows; a process killed then, or in the middle of a stream, would lose them. So each call is
also journaled here, one JSON line per fact:

- `b` (begin) when the call starts, before the upstream request: who, which model at which
  prices, and the request body when it is small enough to count the prompt later;
- `e` (end), its final facts, written before the last byte reaches the client;
- `c` (committed) once the writer has the call durably (a row, a spool or a dead letter).

Appends are copies into a shared file mapping (the page cache outlives the process; no system
call on the request path); a thread fsyncs dirty files every `sync_interval`, so the event
loop never waits on the disk (an OS crash can lose that last interval). After an interval
with nothing to sync the thread sleeps until the next write. Files rotate by size and age;
one whose calls are all committed is deleted, and a clean shutdown leaves none.

Each process holds an exclusive `flock` on its files while it lives; a file another process
can lock belongs to a dead one. `recover` reads such orphans back into calls (a begin without
an end becomes a failed call, `interrupted`), which the ledger spools before deleting them.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import mmap
import os
import threading
import time
import uuid
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from gateway.calls import Call, opening, outcome, restore
from gateway.config import ModelConfig
from gateway.ledger.rows import needs_tokenizer

log = logging.getLogger("gateway.ledger")

SUFFIX = ".journal"
BODY_LIMIT = 64 * 1024  # larger request bodies are not journaled (their prompt is not counted)
HEADROOM = 4 * 1024 * 1024  # mapped past the rotation size: the ends of calls begun before it
INTERRUPTED = "interrupted"
INTERRUPTED_STATUS = 500
INTERRUPTED_ERROR = "the gateway stopped during the call; what the client received is unknown"
_LINE = orjson.OPT_APPEND_NEWLINE


class _Segment:
    """One journal file, open, locked and mapped by this process.

    Appends are copies into a shared file mapping: no system call (a `write` would release the
    interpreter lock, and under load getting it back costs more than the write); the pages
    belong to the page cache, so a killed process loses nothing. The file is allocated up
    front (a full disk fails the rotation, never a copy); an entry past its end is written
    with `pwrite`. The sync thread fsyncs the file, then unmaps written pages from this
    process (`MADV_DONTNEED`: its RSS stays small; the data stays in the file).
    """

    __slots__ = ("path", "fd", "map", "capacity", "size", "synced", "opened", "pending",
                 "failing")

    def __init__(self, path: Path, fd: int, capacity: int) -> None:
        self.path = path
        self.fd = fd
        os.posix_fallocate(fd, 0, capacity)
        self.map = mmap.mmap(fd, capacity)
        self.capacity = capacity
        self.size = 0
        self.synced = 0  # bytes fsynced (and released from this process's pages)
        self.opened = time.monotonic()
        self.pending = 0  # calls begun here and not yet committed
        self.failing = False  # logged once, not at every call

    def append(self, data: bytes) -> None:
        start, end = self.size, self.size + len(data)
        try:
            if end <= self.capacity:
                self.map[start:end] = data
            else:
                os.pwrite(self.fd, data, start)
        except (OSError, ValueError) as exc:  # a full disk must not fail the call itself
            if not self.failing:
                self.failing = True
                log.error("call journal %s: write failed (%s); calls unjournaled", self.path, exc)
            return
        self.size = end

    @property
    def dirty(self) -> bool:
        return self.size > self.synced

    def sync(self) -> None:
        """fsync what was copied in, then drop the written whole pages from this process."""
        written = self.size
        os.fsync(self.fd)
        start = self.synced // mmap.PAGESIZE * mmap.PAGESIZE
        done = min(written, self.capacity) // mmap.PAGESIZE * mmap.PAGESIZE
        if done > start:  # only the pages filled since the last sync
            with contextlib.suppress(OSError, ValueError):
                self.map.madvise(mmap.MADV_DONTNEED, start, done - start)
        self.synced = written

    def close(self) -> None:
        with contextlib.suppress(ValueError):
            self.map.close()
        os.close(self.fd)


class NullJournal:
    """Journals nothing (no ledger, or unit tests)."""

    def begin(self, call: Call) -> None:
        return None

    def end(self, call: Call) -> None:
        return None


@dataclass
class Recovery:
    """Calls read back from orphaned journal files, which stay locked until removed."""

    calls: list[Call] = field(default_factory=list)
    interrupted: set[str] = field(default_factory=set)
    files: list[tuple[Path, int]] = field(default_factory=list)

    def remove(self) -> None:
        """The calls are safe elsewhere: delete the files."""
        for path, fd in self.files:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
            os.close(fd)
        self.files.clear()

    def release(self) -> None:
        """Keep the files for the next start."""
        for _path, fd in self.files:
            os.close(fd)
        self.files.clear()


class Journal:
    """This process's journal files in `directory`; `tag` names the database they belong to."""

    def __init__(
        self,
        directory: str | Path,
        tag: str = "calls",
        *,
        segment_bytes: int = 16 * 1024 * 1024,
        segment_seconds: float = 300.0,
        sync_interval: float = 0.05,
    ) -> None:
        self.directory = Path(directory)
        self.prefix = f"{tag}-"
        self.segment_bytes = segment_bytes
        self.segment_seconds = segment_seconds
        self.sync_interval = sync_interval
        self._name = f"{self.prefix}{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self._sequence = 0
        self._current: _Segment | None = None
        self._segments: list[_Segment] = []
        self._retired: deque[_Segment] = deque()  # deleted by the sync thread
        # call id -> [segment, (status, http) ended, the model it began with]
        self._calls: dict[str, list[Any]] = {}
        self._models: dict[int, tuple[ModelConfig, orjson.Fragment]] = {}
        self._directory_dirty = False
        self._stop = threading.Event()
        self._wake = threading.Event()  # set by the first write while the sync thread sleeps
        self._nudged = True  # writes need not set `_wake`: it is set, or the thread is awake
        self._thread: threading.Thread | None = None

    @property
    def files(self) -> list[Path]:
        return [segment.path for segment in self._segments]

    def open(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        self._current = self._new_segment()
        self._stop.clear()
        self._wake.clear()
        self._nudged = True
        self._thread = threading.Thread(target=self._sync_loop, name="call-journal", daemon=True)
        self._thread.start()

    def begin(self, call: Call) -> None:
        """The call starts (request path: a copy into the mapped file, no system call)."""
        segment = self._current
        if segment is None:
            return
        if segment.size >= self.segment_bytes or (
            time.monotonic() - segment.opened >= self.segment_seconds
        ):
            segment = self._rotate(segment)
        entry = opening(call, self._model(call.model))
        entry["t"] = "b"
        body = _small_body(call)
        if body is not None:
            entry["body"] = body
        segment.append(orjson.dumps(entry, option=_LINE))
        segment.pending += 1
        self._calls[call.id] = [segment, None, call.model]
        self._written()

    def end(self, call: Call) -> None:
        """The call's final facts, before its last byte is sent; again only if they changed."""
        known = self._calls.get(call.id)
        if known is None or known[1] == (call.status, call.http_status):
            return
        known[1] = (call.status, call.http_status)
        entry = outcome(call, text=needs_tokenizer(call))
        entry["t"] = "e"
        entry["id"] = call.id
        if call.model is not known[2]:  # another deployment or a fallback model served it
            entry["model"] = self._model(call.model)
            entry["provider"] = call.provider
        known[0].append(orjson.dumps(entry, option=_LINE))
        self._written()

    def committed(self, ids: Iterable[str]) -> None:
        """The ledger has these calls durably: a file whose calls all are is deleted."""
        done: dict[_Segment, list[str]] = {}
        for call_id in ids:
            known = self._calls.pop(call_id, None)
            if known is not None:
                done.setdefault(known[0], []).append(call_id)
        for segment, segment_ids in done.items():
            segment.append(orjson.dumps({"t": "c", "ids": segment_ids}, option=_LINE))
            segment.pending -= len(segment_ids)
            if segment.pending == 0 and segment is not self._current:
                self._retire(segment)
        if done:
            self._written()

    def _written(self) -> None:
        """Something waits to be synced: wake the sync thread if it sleeps (a plain flag
        check per write; the event's lock only for the first write after it fell asleep)."""
        if not self._nudged:
            self._nudged = True
            self._wake.set()

    def recover(self) -> Recovery:
        """Lock the orphaned files (of dead processes) and read back their uncommitted calls."""
        recovery = Recovery()
        own = set(self.files)
        for path in sorted(self.directory.glob(f"{self.prefix}*{SUFFIX}")):
            if path in own:
                continue
            fd = _lock_orphan(path)
            if fd is None:
                continue
            recovery.files.append((path, fd))
            calls, interrupted = read_calls(path)
            recovery.calls.extend(calls)
            recovery.interrupted.update(interrupted)
        return recovery

    def sync(self) -> None:
        """fsync what was written since the last sync; delete retired files (sync thread)."""
        for segment in list(self._segments):
            if segment.dirty:
                with contextlib.suppress(OSError):
                    segment.sync()
        if self._directory_dirty:
            self._directory_dirty = False
            _fsync_directory(self.directory)
        while self._retired:
            segment = self._retired.popleft()
            with contextlib.suppress(FileNotFoundError):
                segment.path.unlink()
            segment.close()

    def close(self) -> None:
        """Stop: delete the files whose calls are all committed; keep (unlocked) the rest."""
        if self._thread is not None:
            self._stop.set()
            self._wake.set()
            self._thread.join()
            self._thread = None
        self._current = None
        for segment in [s for s in self._segments if s.pending == 0]:
            self._retire(segment)
        self.sync()
        for segment in self._segments:
            log.warning(
                "call journal %s keeps %d unfinished calls for the next start",
                segment.path,
                segment.pending,
            )
            segment.close()
        self._segments.clear()
        self._calls.clear()

    def _sync_loop(self) -> None:
        """fsync every `sync_interval` while calls are written; after an interval with
        nothing to sync, sleep until the next write (each wake-up takes the interpreter lock
        from the request loop)."""
        busy = True  # the last interval had something to sync: more is likely
        while True:
            if not busy:
                self._wake.clear()
                self._nudged = False  # the next write wakes the thread
                if not self._to_sync():  # unless one came before the flag was down
                    self._wake.wait()
            if self._stop.wait(self.sync_interval):  # one fsync an interval at most
                return  # `close` syncs what is left
            busy = self._to_sync()
            try:
                self.sync()
            except Exception:  # the sync thread must outlive any one bad cycle
                log.exception("call journal: sync failed")

    def _to_sync(self) -> bool:
        return (
            self._directory_dirty
            or bool(self._retired)
            or any(segment.dirty for segment in list(self._segments))
        )

    def _rotate(self, old: _Segment) -> _Segment:
        try:
            new = self._new_segment()
        except OSError as exc:
            log.error("call journal: cannot open a new file (%s); appending to %s", exc, old.path)
            old.opened = time.monotonic()
            return old
        self._current = new
        if old.pending == 0:
            self._retire(old)
        return new

    def _new_segment(self) -> _Segment:
        self._sequence += 1
        path = self.directory / f"{self._name}-{self._sequence:05d}{SUFFIX}"
        staging = path.with_name(f".{path.name}.new")
        fd = os.open(staging, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            segment = _Segment(staging, fd, self.segment_bytes + HEADROOM)
        except BaseException:
            os.close(fd)
            with contextlib.suppress(FileNotFoundError):
                staging.unlink()
            raise
        os.rename(staging, path)  # visible under its name only once locked: never an "orphan"
        segment.path = path
        self._segments.append(segment)
        self._directory_dirty = True
        return segment

    def _retire(self, segment: _Segment) -> None:
        self._segments.remove(segment)
        self._retired.append(segment)

    def _model(self, model: ModelConfig) -> orjson.Fragment:
        cached = self._models.get(id(model))
        if cached is None or cached[0] is not model:
            cached = (model, orjson.Fragment(orjson.dumps(model.model_dump(mode="json"))))
            self._models[id(model)] = cached
        return cached[1]


def read_calls(path: Path) -> tuple[list[Call], set[str]]:
    """The uncommitted calls of a journal file, and the ids of those it saw no end of."""
    begun: dict[str, dict[str, Any]] = {}
    ended: dict[str, dict[str, Any]] = {}
    committed: set[str] = set()
    with open(path, "rb") as handle:
        written = handle.read().split(b"\x00", 1)[0]  # the file is allocated ahead: zeros
        for number, line in enumerate(written.splitlines(keepends=True), 1):
            entry = _entry(line)
            if entry is None:
                if line.strip():
                    log.warning("call journal %s line %d is cut short; skipped", path, number)
                continue
            kind = entry.pop("t", None)
            if kind == "b":
                begun[entry["id"]] = entry
            elif kind == "e":
                ended[entry["id"]] = entry
            elif kind == "c":
                committed.update(entry.get("ids") or ())
    stopped = datetime.fromtimestamp(path.stat().st_mtime, UTC)
    calls: list[Call] = []
    interrupted: set[str] = set()
    for call_id, facts in begun.items():
        if call_id in committed:
            continue
        try:
            if call_id in ended:
                calls.append(restore({**facts, **ended[call_id]}))
            else:
                calls.append(interrupt(restore(facts), stopped))
                interrupted.add(call_id)
        except (KeyError, TypeError, ValueError) as exc:
            log.error("call journal %s: call %s cannot be read back (%s)", path, call_id, exc)
    return calls, interrupted


def interrupt(call: Call, stopped: datetime) -> Call:
    """A call the process died during: failed, `interrupted`; no completion tokens known."""
    call.fail(INTERRUPTED_STATUS, INTERRUPTED_ERROR)
    call.cancel_reason = INTERRUPTED
    call.finished_at = max(stopped, call.created_at)
    call.meter.completion_tokens = 0  # unknown; the prompt is counted from the journaled body
    return call


def _entry(line: bytes) -> dict[str, Any] | None:
    try:
        entry = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None
    return entry if isinstance(entry, dict) and "t" in entry else None


def _small_body(call: Call) -> orjson.Fragment | None:
    """The request body, encoded, if it is at most BODY_LIMIT bytes; one received larger is
    not encoded at all (the request path would pay for an encoding it throws away)."""
    body = call.request_body
    if body is None or (call.body_bytes is not None and call.body_bytes > BODY_LIMIT):
        return None
    try:
        encoded = orjson.dumps(body)
    except orjson.JSONEncodeError:
        return None
    return orjson.Fragment(encoded) if len(encoded) <= BODY_LIMIT else None


def _lock_orphan(path: Path) -> int | None:
    """An fd holding `path`'s lock, or None if a live process holds it (or it is gone)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    if os.fstat(fd).st_nlink == 0:  # another process replayed and deleted it meanwhile
        os.close(fd)
        return None
    return fd


def _fsync_directory(directory: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
