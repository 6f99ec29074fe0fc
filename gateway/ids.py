"""Identifiers: time-ordered call ids that double as ledger primary keys."""

from __future__ import annotations

import os
import random
import time

# Ids are unique, not secret (access is checked against the caller's key), so a fast PRNG
# seeded from the OS per process will do; os.urandom costs a system call per request.
_random = random.Random(os.urandom(32))


def new_call_id() -> str:
    """32 hex characters: 48 bits of milliseconds, then 80 random bits (sortable by time)."""
    return f"{int(time.time() * 1000):012x}{_random.getrandbits(80):020x}"


def new_id(prefix: str) -> str:
    """A public object id such as `batch_...` or `file-...`."""
    return f"{prefix}{os.urandom(12).hex()}"
