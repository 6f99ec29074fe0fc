"""Batch API files, kept in the database (`batch_files`): uploaded inputs and written results."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Row, select

from gateway.batch.tables import batch_files
from gateway.ledger.database import Database, as_utc, insert_for, now

f = batch_files.c
_META = [column for column in batch_files.c if column.name != "data"]


def file_object(row: Row[Any]) -> dict[str, Any]:
    """OpenAI's `file` object."""
    created = as_utc(row.created_at)
    return {
        "id": row.id,
        "object": "file",
        "bytes": row.bytes,
        "created_at": int(created.timestamp()) if created else 0,
        "expires_at": None,
        "filename": row.filename,
        "purpose": row.purpose,
        "status": "processed",
        "status_details": None,
    }


class FileStore:
    def __init__(self, database: Database) -> None:
        self.database = database

    async def add(
        self,
        file_id: str,
        workload: str,
        purpose: str,
        filename: str,
        data: bytes,
        batch_id: str | None = None,
    ) -> None:
        """Keep a file; a file id already there is left as it is (results are written once)."""
        statement = (
            insert_for(self.database.engine, batch_files)
            .values(
                id=file_id,
                workload=workload,
                purpose=purpose,
                filename=filename[:255],
                bytes=len(data),
                data=data,
                batch_id=batch_id,
                created_at=now(),
            )
            .on_conflict_do_nothing(index_elements=["id"])
        )
        await self.database.ensure_ready()
        async with self.database.engine.begin() as conn:
            await conn.execute(statement)

    async def get(self, file_id: str) -> Row[Any] | None:
        """The file's metadata (not its bytes)."""
        async with self.database.engine.connect() as conn:
            return (await conn.execute(select(*_META).where(f.id == file_id))).first()

    async def data(self, file_id: str) -> bytes | None:
        async with self.database.engine.connect() as conn:
            return (await conn.execute(select(f.data).where(f.id == file_id))).scalar()
