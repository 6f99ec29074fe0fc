"""A throwaway Postgres database for the gateway's ledger in the Postgres runs."""

from __future__ import annotations

import asyncio
import os

from sqlalchemy import make_url

DEFAULT = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"


async def _admin(url: str, statement: str) -> None:
    import asyncpg

    parsed = make_url(url)
    conn = await asyncpg.connect(host=parsed.host or "127.0.0.1", port=parsed.port or 5432,
                                 user=parsed.username, password=parsed.password,
                                 database=parsed.database or "postgres", timeout=5)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


class Throwaway:
    """`create()` makes `gateway_bench_<pid>` beside `url`'s database; `drop()` removes it."""

    def __init__(self, url: str) -> None:
        self.admin = url
        self.name = f"gateway_bench_{os.getpid()}"

    def create(self) -> str:
        asyncio.run(_admin(self.admin, f'DROP DATABASE IF EXISTS "{self.name}"'))
        asyncio.run(_admin(self.admin, f'CREATE DATABASE "{self.name}"'))
        return make_url(self.admin).set(database=self.name).render_as_string(hide_password=False)

    def drop(self) -> None:
        asyncio.run(_admin(self.admin, f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)'))
