"""Rows the database rejects are kept as dead letters (never only logged), counted in a gauge,
left out of the spend metrics, and re-inserted by `gateway ledger replay-dead-letters` once the
database accepts them."""

from __future__ import annotations

import asyncio
import logging
import uuid
from pathlib import Path

import pytest
import yaml
from sqlalchemy import text

from gateway.calls import Call
from gateway.cli import main
from gateway.config import Settings
from gateway.ledger import costing
from gateway.ledger.database import Database
from gateway.ledger.service import spool_path
from gateway.ledger.spool import FileSpool
from gateway.ledger.writer import LedgerWriter
from gateway.metrics import REGISTRY
from tests.ledger.helpers import make_call, settings
from tests.ledger.test_writer import stored_ids

GAUGE = "gateway_ledger_dead_letter_rows"


@pytest.fixture(autouse=True)
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run where the spool (and so the dead letters) of a Postgres ledger land by default."""
    monkeypatch.chdir(tmp_path)


def spend_metric(workload: str) -> float | None:
    return REGISTRY.get_sample_value(
        "gateway_cost_usd_total", {"workload": workload, "model": "gpt-4o-mini"}
    )


def write_config(tmp_path: Path, url: str) -> Path:
    path = tmp_path / "gateway.yaml"
    path.write_text(yaml.safe_dump({"database_url": url}))
    return path


async def record_all(config: Settings, made: list[Call]) -> list[str]:
    """Write `made` through a writer whose spool is where the CLI looks for it."""
    database = Database(config)
    writer = LedgerWriter(database, FileSpool(spool_path(config)), interval=60)
    await writer.start()
    for call in made:
        writer.record(call)
    await writer.close()
    try:
        return await stored_ids(database)
    finally:
        await database.close()


async def widen_workload_column(url: str) -> None:
    database = Database(settings(url))
    async with database.engine.begin() as conn:
        await conn.execute(text("ALTER TABLE calls ALTER COLUMN workload TYPE varchar(300)"))
    await database.close()


def test_a_rejected_row_is_a_dead_letter_until_the_database_takes_it(
    pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str],
) -> None:
    config = settings(pg_url)
    bad_workload = "w" * 200  # longer than the column allows
    good = [make_call(config) for _ in range(3)]
    bad = make_call(config, workload=bad_workload)
    with caplog.at_level(logging.WARNING, logger="gateway.ledger"):
        stored = asyncio.run(record_all(config, [good[0], bad, *good[1:]]))
    assert sorted(stored) == sorted(c.id for c in good)
    assert spend_metric(bad_workload) is None  # a row that did not land is not spend
    assert REGISTRY.get_sample_value(GAUGE) == 1
    logged = [r.getMessage() for r in caplog.records if bad.id in r.getMessage()]
    assert len(logged) == 1 and "k" * 16 not in logged[0] and bad_workload not in logged[0]

    path = write_config(tmp_path, pg_url)
    main(["ledger", "dead-letters", "--config", str(path)])
    listing = capsys.readouterr().out
    assert bad.id in listing and "value too long" in listing

    main(["ledger", "replay-dead-letters", "--config", str(path)])
    assert "0 rows written, 1 kept" in capsys.readouterr().out  # still refused: kept

    asyncio.run(widen_workload_column(pg_url))
    main(["ledger", "replay-dead-letters", "--config", str(path)])
    assert "1 rows written, 0 kept" in capsys.readouterr().out
    main(["ledger", "replay-dead-letters", "--config", str(path)])
    assert "no dead letters" in capsys.readouterr().out
    main(["ledger", "dead-letters", "--config", str(path)])
    assert "no dead letters" in capsys.readouterr().out
    assert bad.id in asyncio.run(_ids(pg_url))


async def _ids(url: str) -> list[str]:
    database = Database(settings(url))
    try:
        return await stored_ids(database)
    finally:
        await database.close()


def test_a_call_that_cannot_be_costed_is_kept_and_replays_once_costing_works(
    sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = settings(sqlite_url)
    good = [make_call(config) for _ in range(3)]
    bad = make_call(config)
    real_row_for = costing.row_for

    def broken_row_for(call: Call, billing: str = "delivered") -> dict[str, object]:
        if call.id == bad.id:
            raise ZeroDivisionError("a costing bug")
        return real_row_for(call, billing)

    monkeypatch.setattr(costing, "row_for", broken_row_for)
    stored = asyncio.run(record_all(config, [good[0], bad, *good[1:]]))
    assert sorted(stored) == sorted(c.id for c in good)  # the rest of the batch landed
    assert REGISTRY.get_sample_value(GAUGE) == 1

    monkeypatch.setattr(costing, "row_for", real_row_for)  # the costing bug is fixed
    path = write_config(tmp_path, sqlite_url)
    main(["ledger", "replay-dead-letters", "--config", str(path)])
    assert "1 rows written, 0 kept" in capsys.readouterr().out
    assert sorted(asyncio.run(_ids(sqlite_url))) == sorted(c.id for c in [*good, bad])


def test_a_metering_exception_loses_no_call(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = settings(db_url)
    made = [make_call(config) for _ in range(4)]
    bad = made[1]
    real = costing.needs_tokenizer

    def broken(call: Call) -> bool:
        if call.id == bad.id:
            raise RuntimeError("a metering bug")
        return real(call)

    monkeypatch.setattr(costing, "needs_tokenizer", broken)
    stored = asyncio.run(record_all(config, made))
    assert sorted(stored) == sorted(c.id for c in made)


def test_a_call_the_tokenizer_cannot_count_lands_with_the_error_noted(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gateway import tokens

    config = settings(db_url)
    workload = f"tok-{uuid.uuid4().hex[:8]}"
    call = make_call(config, workload=workload, status="cancelled")  # needs the tokenizer

    def broken(text: str, model: str) -> int:
        raise MemoryError("the tokenizer failed")

    monkeypatch.setattr(tokens, "count", broken)
    stored = asyncio.run(record_all(config, [call]))
    assert stored == [call.id]

    async def read() -> tuple[str, str, str]:
        database = Database(config)
        async with database.engine.connect() as conn:
            row = (await conn.execute(
                text("SELECT status, token_source, error FROM calls WHERE id = :id"),
                {"id": call.id},
            )).one()
        await database.close()
        return row[0], row[1], row[2]

    status, source, error = asyncio.run(read())
    assert (status, source) == ("cancelled", "estimated")
    assert "could not be metered" in error and "MemoryError" in error
