"""The call journal: begin/end/commit, rotation and deletion, orphans found by their lock, torn
lines, fsync off the calling thread, and calls read back exactly as they were costed."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import orjson
import pytest
from sqlalchemy import select

from gateway.calls import Call, opening, outcome, restore
from gateway.config import Settings
from gateway.ledger import journal as journal_module
from gateway.ledger.costing import row_for
from gateway.ledger.journal import INTERRUPTED, Journal, read_calls
from gateway.ledger.models import calls
from gateway.ledger.service import Ledger, database_tag, journal_dir
from tests.ledger.helpers import Counted, make_call, make_meter, settings, wait_for
from tests.ledger.test_writer import stored_ids

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def config(tmp_path: Path) -> Settings:
    return settings(f"sqlite+aiosqlite:///{tmp_path}/ledger.db")


@pytest.fixture
def journal(tmp_path: Path):  # type: ignore[no-untyped-def]
    opened = Journal(tmp_path / "journal", "db", sync_interval=0.01)
    opened.open()
    yield opened
    opened.close()


def entries(path: Path) -> list[dict]:
    """The entries written so far (the file is allocated ahead and zero past them)."""
    written = path.read_bytes().split(b"\x00", 1)[0]
    return [orjson.loads(line) for line in written.splitlines()]


def crash_after(script: str, *args: str) -> list[str]:
    """Run `script` in a process that then dies without closing anything (`os._exit`); the
    ids it printed."""
    prelude = (
        "import os, sys\n"
        "from gateway.ledger.journal import Journal\n"
        "from tests.ledger.helpers import make_call, make_meter, settings\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", prelude + script + "\nos._exit(0)\n", *args],
        cwd=ROOT, capture_output=True, text=True, timeout=30,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


def test_begin_end_commit_and_a_clean_close(journal: Journal, config: Settings) -> None:
    first, second = make_call(config), make_call(config)
    journal.begin(first)
    journal.begin(second)
    journal.end(first)
    journal.end(first)  # the same outcome again: not written twice
    [path] = journal.files
    kinds = [(e["t"], e["id"]) for e in entries(path)]
    assert kinds == [("b", first.id), ("b", second.id), ("e", first.id)]
    begin = entries(path)[0]
    assert {k: begin["model"]["price"][k] for k in ("input", "output")} == {
        "input": 1.0, "output": 2.0
    }
    assert begin["body"] == first.request_body and begin["key_id"] == "k" * 16
    journal.committed([first.id, "not-journaled"])
    assert entries(path)[-1] == {"t": "c", "ids": [first.id]}
    journal.end(second)
    journal.committed([second.id])
    journal.close()
    assert not path.exists()  # every call committed: nothing left behind


def test_a_body_received_larger_than_the_limit_is_not_encoded(
    journal: Journal, config: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    small, large = make_call(config), make_call(config)
    small.body_bytes = 200
    large.body_bytes = journal_module.BODY_LIMIT + 1
    encoded: list[object] = []
    real_dumps = orjson.dumps

    def counting_dumps(value, *args, **kwargs):  # type: ignore[no-untyped-def]
        if value is large.request_body or value is small.request_body:
            encoded.append(value)
        return real_dumps(value, *args, **kwargs)

    monkeypatch.setattr(journal_module.orjson, "dumps", counting_dumps)
    journal.begin(small)
    journal.begin(large)
    [path] = journal.files
    first, second = entries(path)
    assert first["body"] == small.request_body and "body" not in second
    assert encoded == [small.request_body]  # the large body was never encoded

def test_files_rotate_and_go_once_their_calls_are_committed(
    tmp_path: Path, config: Settings
) -> None:
    journal = Journal(tmp_path / "j", "db", segment_bytes=1, sync_interval=0.01)
    journal.open()
    made = [make_call(config) for _ in range(3)]
    for call in made:
        journal.begin(call)  # past the first, each begin finds its file full: a new one
    files = journal.files
    assert len(files) == 3
    for call in made:
        journal.end(call)  # into the file of its begin, so each file stands alone
    assert [[e["t"] for e in entries(path)] for path in files] == [["b", "e"]] * 3
    journal.committed([made[0].id, made[1].id])
    deadline = time.monotonic() + 5
    while (files[0].exists() or files[1].exists()) and time.monotonic() < deadline:
        time.sleep(0.01)  # the sync thread deletes retired files
    assert not files[0].exists() and not files[1].exists()
    assert journal.files == [files[2]]
    journal.close()
    assert list((tmp_path / "j").iterdir()) == [files[2]]  # its call never committed: kept


def test_a_live_process_owns_its_file_and_its_death_frees_it(tmp_path: Path) -> None:
    directory = tmp_path / "journal"
    script = (
        "import sys, time\n"
        "from gateway.ledger.journal import Journal\n"
        "from tests.ledger.helpers import make_call, settings\n"
        "journal = Journal(sys.argv[1], 'db')\n"
        "journal.open()\n"
        "call = make_call(settings('sqlite+aiosqlite:///unused.db'))\n"
        "journal.begin(call)\n"
        "print(call.id, flush=True)\n"
        "time.sleep(30)\n"
    )
    child = subprocess.Popen(
        [sys.executable, "-c", script, str(directory)], cwd=ROOT, stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        call_id = child.stdout.readline().strip()
        mine = Journal(directory, "db")
        alive = mine.recover()
        assert alive.calls == [] and alive.files == []  # locked by a live process
        child.kill()  # SIGKILL
        child.wait(5)
        orphaned = mine.recover()
        assert [c.id for c in orphaned.calls] == [call_id]
        assert orphaned.interrupted == {call_id}
        assert Journal(directory, "db").recover().files == []  # locked by the recovery now
        assert Journal(directory, "other-db").recover().files == []  # not its database
        orphaned.remove()
        assert list(directory.glob("*.journal")) == []
    finally:
        child.kill()
        child.wait(5)


def test_a_torn_last_line_is_skipped(tmp_path: Path, config: Settings) -> None:
    done, cut_short = make_call(config), make_call(config)
    path = tmp_path / "db-1-x-00001.journal"
    lines = [
        {**opening(done), "t": "b"},
        {**outcome(done, text=False), "t": "e", "id": done.id},
        {**opening(cut_short), "t": "b"},
    ]
    data = b"".join(orjson.dumps(line, option=orjson.OPT_APPEND_NEWLINE) for line in lines)
    path.write_bytes(data + b'{"t": "e", "id": "' + cut_short.id.encode()[:10])
    calls, interrupted = read_calls(path)
    assert [c.id for c in calls] == [done.id, cut_short.id]
    assert calls[0].status == "completed" and interrupted == {cut_short.id}
    assert calls[1].status == "failed" and calls[1].cancel_reason == INTERRUPTED


def test_entries_past_the_mapped_size_are_written_and_read_back(
    tmp_path: Path, config: Settings
) -> None:
    """A segment is mapped at a fixed size; the end of a long call that does not fit goes
    through `pwrite`, and the file reads back whole (no zeros inside, none lost)."""
    path = tmp_path / "db-1-x-00001.journal"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    segment = journal_module._Segment(path, fd, 4096)
    calls_ = [make_call(config, meter=make_meter([" word"] * 400)) for _ in range(3)]
    for call in calls_:
        segment.append(orjson.dumps({**opening(call), "t": "b"}, option=orjson.OPT_APPEND_NEWLINE))
        entry = {**outcome(call, text=True), "t": "e", "id": call.id}
        segment.append(orjson.dumps(entry, option=orjson.OPT_APPEND_NEWLINE))
    assert segment.size > 4096  # the last entries went past the mapping
    segment.sync()
    segment.close()
    read, interrupted = read_calls(path)
    assert [c.id for c in read] == [c.id for c in calls_] and not interrupted
    assert [c.meter.delivered_text for c in read] == [" word" * 400] * 3


def test_a_call_served_by_a_fallback_is_read_back_with_it(
    journal: Journal, config: Settings
) -> None:
    call = make_call(config)
    journal.begin(call)
    fallback = config.model("gen-model")
    assert fallback is not None
    call.model, call.provider = fallback, fallback.provider  # what the router does on a retry
    journal.end(call)
    [path] = journal.files
    [served] = [c for c in read_calls(path)[0] if c.id == call.id]
    assert (served.model.name, served.provider, served.model.upstream_name) == (
        "gen-model", "gen", "gpt-4")
    assert row_for(served)["upstream_model"] == "gpt-4"
    journal.committed([call.id])


def test_fsync_happens_on_the_sync_thread_only(
    journal: Journal, config: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    synced_on: list[str] = []
    real_fsync = os.fsync

    def recording_fsync(fd: int) -> None:
        synced_on.append(threading.current_thread().name)
        real_fsync(fd)

    monkeypatch.setattr(journal_module.os, "fsync", recording_fsync)
    for _ in range(20):
        call = make_call(config)
        journal.begin(call)
        journal.end(call)
        journal.committed([call.id])
    deadline = time.monotonic() + 5
    while not synced_on and time.monotonic() < deadline:
        time.sleep(0.01)
    assert synced_on and set(synced_on) == {"call-journal"}
    assert threading.current_thread().name not in synced_on


def test_an_idle_journal_does_not_wake_its_sync_thread(
    journal: Journal, config: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The sync thread sleeps until something is written (each wake-up takes the interpreter
    lock from the request loop), then fsyncs it within about `sync_interval`."""
    syncs = Counted(journal.sync)
    monkeypatch.setattr(journal, "sync", syncs)
    time.sleep(0.2)  # the new file's directory entry is synced
    idle = len(syncs.calls)
    time.sleep(0.5)  # fifty sync intervals with nothing written
    assert len(syncs.calls) - idle <= 1
    call = make_call(config)
    journal.begin(call)
    [segment] = journal._segments
    deadline = time.monotonic() + 5
    while segment.synced < segment.size and time.monotonic() < deadline:
        time.sleep(0.01)
    assert segment.synced == segment.size > 0
    before = len(syncs.calls)
    time.sleep(0.3)  # synced: asleep again
    assert len(syncs.calls) - before <= 1


def test_a_busy_journal_does_not_wake_its_sync_thread_at_each_write(
    journal: Journal, config: Settings
) -> None:
    """While calls are written the sync thread wakes once a `sync_interval` by itself; a write
    sets its wake-up event only after an interval with nothing to sync."""
    sets = journal._wake.set = Counted(journal._wake.set)  # type: ignore[method-assign]
    time.sleep(0.1)  # the new file's directory entry is synced; the thread sleeps
    for _ in range(60):  # a call every 5 ms for 0.3 s: thirty sync intervals
        call = make_call(config)
        journal.begin(call)
        journal.end(call)
        journal.committed([call.id])
        time.sleep(0.005)
    assert 1 <= len(sets.calls) <= 3  # the first write; under a loaded machine perhaps again


@pytest.mark.parametrize(
    "build",
    [
        lambda c: make_call(c, meter=make_meter([" a"] * 3, usage=(10, 3))),
        lambda c: make_call(c, status="cancelled", meter=make_meter([" the", " model"], gone_at=1)),
        lambda c: make_call(c, mode="sync", meter=make_meter([" no", " usage"])),
        lambda c: make_call(c, status="failed", meter=make_meter([], sent=False)),
        lambda c: make_call(c, model="gen-model", status="cancelled", meter=make_meter([" x"])),
    ],
)
def test_a_call_read_back_costs_what_the_original_did(config: Settings, build) -> None:  # type: ignore[no-untyped-def]
    call: Call = build(config)
    facts = {**opening(call), "body": call.request_body, **outcome(call, text=True)}
    facts = orjson.loads(orjson.dumps(facts))  # as the journal stores it
    billing = {"gen": "generated"}.get(call.provider, "delivered")
    assert row_for(restore(facts), billing) == row_for(call, billing)


async def test_the_calls_of_a_dead_process_become_rows_at_the_next_start(
    config: Settings,
) -> None:
    directory = journal_dir(config)  # beside the SQLite database
    answered, cut, committed = crash_after(
        "config = settings(sys.argv[2])\n"
        "journal = Journal(sys.argv[1], sys.argv[3])\n"
        "journal.open()\n"
        "answered = make_call(config, meter=make_meter([' a'], usage=(7, 1)))\n"
        "prompt = 'a prompt long enough to count ' * 5\n"
        "body = {'model': 'gpt-4o-mini', 'messages': [{'role': 'user', 'content': prompt}]}\n"
        "cut = make_call(config, body=body)\n"
        "committed = make_call(config)\n"
        "for call in (answered, cut, committed):\n"
        "    journal.begin(call)\n"
        "journal.end(answered)\n"
        "journal.end(committed)\n"
        "journal.committed([committed.id])\n"
        "print(answered.id, cut.id, committed.id)\n",
        str(directory), config.database_url, database_tag(config.database_url),
    )
    ledger = Ledger(config, interval=0.02, check_interval=0.05)
    await ledger.start()
    try:
        async def recorded() -> bool:
            return sorted(await stored_ids(ledger.database)) == sorted([answered, cut])

        await wait_for(recorded)
        async with ledger.database.engine.connect() as conn:
            query = select(calls).where(calls.c.id == cut)
            row = (await conn.execute(query)).mappings().one()
        assert (row["status"], row["cancel_reason"]) == ("failed", INTERRUPTED)
        assert row["token_source"] == "estimated" and row["completion_tokens"] == 0
        assert row["prompt_tokens"] > 25 and row["cost_usd"] > 0  # counted from the body
        assert "stopped during the call" in row["error"]
        assert list(directory.iterdir()) == ledger.journal.files  # the orphan is gone
    finally:
        await ledger.close()
    assert list(directory.iterdir()) == []
