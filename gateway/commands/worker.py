"""`gateway worker [--config F]`: the batch worker alone, to scale it apart from the API.

It needs the same config as the API processes (database, Redis, providers). Without
`redis_url` it finds queued calls by scanning the database every `batch_reconcile_interval`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal

from gateway.batch.worker import BatchWorker, build_queue, worker_name
from gateway.budgets.limiter import Limiter
from gateway.config import Settings
from gateway.ledger.database import Database
from gateway.providers import build_provider
from gateway.upstream import UpstreamPool

log = logging.getLogger("gateway.batch")

RETRY = 2.0


def run(settings: Settings) -> None:
    """Run until SIGTERM or SIGINT."""
    asyncio.run(serve(settings))


async def serve(settings: Settings, stop: asyncio.Event | None = None) -> None:
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    database = Database(settings)
    pool = UpstreamPool()
    name = worker_name()
    queue = build_queue(settings, name)
    providers = {p.name: build_provider(p) for p in settings.providers}
    # With Redis, finished deferred calls settle the budgets every gateway shares.
    limits = Limiter(settings) if settings.redis_url else None
    worker = BatchWorker(settings, database, queue, pool, providers, owner=name, limits=limits)
    try:
        while not stop.is_set():
            try:
                await database.ensure_ready()
                break
            except Exception as exc:
                log.warning("batch worker: database not ready (%s); retrying", exc)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), RETRY)
        if stop.is_set():
            return
        if limits is not None:
            await limits.start()
        await worker.start()
        log.info("batch worker ready: %s", name)
        await stop.wait()
        log.info("batch worker stopping")
        await worker.close()
    finally:
        if limits is not None:
            await limits.close()
        with contextlib.suppress(Exception):
            await queue.close()
        await pool.close()
        await database.close()
