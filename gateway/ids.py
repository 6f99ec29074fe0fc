"""Identifiers: time-ordered call ids that double as ledger primary keys."""

from __future__ import annotations

import os
import time


def new_call_id() -> str:
    """32 hex characters: 48 bits of milliseconds, then 80 random bits (sortable by time)."""
    return f"{int(time.time() * 1000):012x}{os.urandom(10).hex()}"


def new_id(prefix: str) -> str:
    """A public object id such as `batch_...` or `file-...`."""
    return f"{prefix}{os.urandom(12).hex()}"
