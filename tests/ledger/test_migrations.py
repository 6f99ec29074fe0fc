"""Alembic migrations: up, down, up again on Postgres and SQLite; the schema equals the models."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from gateway.ledger import migrate
from gateway.ledger.database import build_engine
from gateway.ledger.models import metadata

TABLES = {"workloads", "api_keys", "calls"}


async def schema(url: str) -> tuple[set[str], set[str], list]:
    engine = build_engine(url)
    try:
        async with engine.connect() as conn:

            def read(sync):  # type: ignore[no-untyped-def]
                inspector = inspect(sync)
                tables = set(inspector.get_table_names())
                indexes = (
                    {i["name"] for i in inspector.get_indexes("calls")}
                    if "calls" in tables
                    else set()
                )
                diff = (
                    compare_metadata(
                        MigrationContext.configure(sync, opts={"compare_type": True}), metadata
                    )
                    if tables >= TABLES
                    else []
                )
                return tables, indexes, diff

            return await conn.run_sync(read)
    finally:
        await engine.dispose()


async def revision(url: str) -> str | None:
    engine = build_engine(url)
    try:
        return await migrate.current(engine)
    finally:
        await engine.dispose()


async def test_upgrade_downgrade_upgrade(db_url: str) -> None:
    await asyncio.to_thread(migrate.upgrade, db_url)
    tables, indexes, diff = await schema(db_url)
    assert tables >= TABLES
    assert {
        "ix_calls_workload_created_at",
        "ix_calls_status_created_at",
        "ix_calls_created_at",
    } <= indexes
    assert diff == []  # the migration builds exactly what the models describe
    assert await revision(db_url) == migrate.head()

    await asyncio.to_thread(migrate.downgrade, db_url, "base")
    tables, _, _ = await schema(db_url)
    assert not tables & TABLES
    assert await revision(db_url) is None

    await asyncio.to_thread(migrate.upgrade, db_url)
    tables, _, diff = await schema(db_url)
    assert tables >= TABLES and diff == []


def test_gateway_migrate_from_several_processes_at_once(db_url: str, tmp_path) -> None:
    env = {**os.environ, "GATEWAY_DATABASE_URL": db_url}
    env.pop("GATEWAY_CONFIG", None)
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "gateway", "migrate"],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for _ in range(3)
    ]
    outputs = [proc.communicate(timeout=25)[0] for proc in procs]
    assert [proc.returncode for proc in procs] == [0, 0, 0], outputs
    assert any("migrated from base to" in out for out in outputs), outputs
    assert asyncio.run(revision(db_url)) == migrate.head()
