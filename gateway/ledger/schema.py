"""Bring the ledger schema to head from a short-lived child process.

Alembic and its migration scripts weigh about 11 MB of imports that a serving process never
needs after start; running the upgrade in a child keeps them out of the server's memory.
"""

from __future__ import annotations

import asyncio
import sys

MIGRATION_TIMEOUT = 120.0


class MigrationFailed(Exception):
    """The schema upgrade did not complete (database down, or a broken migration)."""


async def upgrade_in_child(url: str) -> None:
    """Run `gateway.ledger.migrate` (the URL on stdin, never on the command line)."""
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "gateway.ledger.migrate",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        _, stderr = await asyncio.wait_for(child.communicate(url.encode()), MIGRATION_TIMEOUT)
    except (TimeoutError, asyncio.CancelledError):
        child.kill()
        await child.wait()
        raise
    if child.returncode != 0:
        lines = stderr.decode(errors="replace").strip().splitlines()
        raise MigrationFailed(lines[-1] if lines else f"exit status {child.returncode}")
