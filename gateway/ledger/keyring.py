"""Keeps the authenticator's stored keys current: loaded at start, then every few seconds.

Keys created or revoked by `gateway keys` in another process (or another worker) take effect
within one interval; the admin API refreshes at once after a change. Until the first read
succeeds the authenticator fails closed; after it, the last known keys stay in force.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

from gateway.auth import Authenticator
from gateway.ledger.keys import KeyStore

log = logging.getLogger("gateway.ledger")


class KeySync:
    def __init__(
        self,
        store: KeyStore,
        auth: Authenticator,
        interval: float = 2.0,
        limits: Callable[[list[dict[str, Any]]], None] | None = None,
    ) -> None:
        self.store = store
        self.auth = auth
        self.limits = limits  # told the stored keys' limits (gateway.budgets)
        self.interval = interval
        self._task: asyncio.Task[None] | None = None
        self._loaded = False
        self._failing = False

    async def refresh(self) -> None:
        """Load the stored keys now; on failure the last known keys stay in force."""
        try:
            hashes, ever_stored, limited = await asyncio.wait_for(
                self._read(), self.interval * 5
            )
        except Exception as exc:
            if not self._failing and not self._loaded:
                log.error("cannot read the stored API keys (%s): failing closed, calls get 503 "
                          "except with a config key or the admin key, until they can be read",
                          exc)
            elif not self._failing:
                log.warning("could not load stored API keys (%s); keeping the last known", exc)
            self._failing = True
            return
        if self._failing:
            log.info("stored API keys loaded again%s",
                     "" if self._loaded else ": no longer failing closed")
        self._failing = False
        self._loaded = True
        self.auth.load_stored_keys(hashes, ever_stored)
        if self.limits is not None:
            self.limits(limited)

    async def _read(self) -> tuple[dict[str, str], bool, list[dict[str, Any]]]:
        if not self._loaded:  # a database that was down at start may still need its schema
            await self.store.database.ensure_ready()
        hashes = await self.store.active_hashes()
        ever_stored = bool(hashes) or (self.auth.may_open and await self.store.any_stored())
        limited = await self.store.active_limits() if self.limits is not None else []
        return hashes, ever_stored, limited

    async def start(self) -> None:
        await self.refresh()
        self._task = asyncio.create_task(self._run(), name="ledger-key-sync")

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            await self.refresh()

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
