"""Alembic environment: async engines for Postgres (asyncpg) and SQLite (aiosqlite).

The URL comes from `gateway migrate` (config attributes), else `sqlalchemy.url` in alembic.ini,
else the gateway's own settings (--config / GATEWAY_CONFIG / GATEWAY_DATABASE_URL).
"""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy import make_url, pool, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

import gateway.batch.tables  # noqa: F401  (the batch lane's tables join the metadata)
import gateway.responses.store  # noqa: F401  (so do the stored responses)
from gateway.ledger.models import metadata

# Any constant works; it only has to be the same for every gateway migrating this database.
ADVISORY_LOCK = 0x6761_7465_7761_79  # "gateway"


def database_url() -> str:
    config = context.config
    url = config.attributes.get("database_url") or config.get_main_option("sqlalchemy.url")
    if url:
        return url
    from gateway.config import load_settings

    return load_settings().database_url


def run_migrations(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite alters by table copy
        compare_type=True,
    )
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            # Several gateways starting at once migrate one after the other.
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": ADVISORY_LOCK})
        context.run_migrations()


async def run_async() -> None:
    url = make_url(database_url())
    # An unreachable Postgres fails in seconds, not asyncpg's default minute.
    connect_args = {"timeout": 10} if url.get_backend_name() == "postgresql" else {}
    engine = create_async_engine(url, poolclass=pool.NullPool, connect_args=connect_args)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(run_migrations)
    finally:
        await engine.dispose()


if context.is_offline_mode():
    context.configure(url=database_url(), target_metadata=metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    asyncio.run(run_async())
