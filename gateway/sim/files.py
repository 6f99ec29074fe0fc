"""Uploaded and generated files, kept in memory, as OpenAI file objects."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from typing import Any


def new_id(prefix: str) -> str:
    """A random id with `prefix`, like the providers' (`file-...`, `batch_...`)."""
    return prefix + secrets.token_hex(12)


@dataclass(slots=True)
class StoredFile:
    """One file: its bytes, name and purpose, and the batch that wrote it, if one did."""

    id: str
    filename: str
    purpose: str
    data: bytes
    batch_id: str | None = None
    created_at: int = field(default_factory=lambda: int(time.time()))

    def as_object(self) -> dict[str, Any]:
        """The OpenAI `file` object."""
        return {
            "id": self.id,
            "object": "file",
            "bytes": len(self.data),
            "created_at": self.created_at,
            "expires_at": None,
            "filename": self.filename,
            "purpose": self.purpose,
            "status": "processed",
            "status_details": None,
        }


class FileStore:
    """Files by id, in upload order."""

    def __init__(self) -> None:
        self._files: dict[str, StoredFile] = {}

    def add(
        self, filename: str, purpose: str, data: bytes, batch_id: str | None = None
    ) -> StoredFile:
        """Keep a new file."""
        stored = StoredFile(new_id("file-"), filename, purpose, data, batch_id)
        self._files[stored.id] = stored
        return stored

    def get(self, file_id: str) -> StoredFile | None:
        """The file `file_id`, or None."""
        return self._files.get(file_id)

    def delete(self, file_id: str) -> bool:
        """Forget `file_id`; whether it existed."""
        return self._files.pop(file_id, None) is not None

    def newest_first(self, purpose: str | None = None) -> list[StoredFile]:
        """Every file (of `purpose`, if given), newest first."""
        files = reversed(self._files.values())
        return [f for f in files if purpose is None or f.purpose == purpose]

    def reset(self) -> None:
        """Forget every file."""
        self._files.clear()
