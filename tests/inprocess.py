"""The gateway's ASGI app served in-process: its own event loop in a thread, lifespan started,
requests made through httpx.ASGITransport from synchronous test code (hypothesis included)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any

import httpx
from starlette.types import ASGIApp, Message

REQUEST_TIMEOUT = 20.0


class InProcessApp:
    """Start with `start()`, call `request(...)`, stop with `stop()` (lifespan shutdown)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._inbox: asyncio.Queue[Message] | None = None
        self._outbox: asyncio.Queue[Message] | None = None
        self._lifespan: asyncio.Task[None] | None = None
        self.client: httpx.AsyncClient | None = None

    def start(self) -> InProcessApp:
        self.thread.start()
        self._run(self._startup())
        return self

    def stop(self) -> None:
        try:
            self._run(self._shutdown())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(timeout=10)

    def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        assert self.client is not None
        return self._run(self.client.request(method, url, **kwargs))

    def _run(self, coroutine: Coroutine[Any, Any, Any]) -> Any:
        future = asyncio.run_coroutine_threadsafe(coroutine, self.loop)
        return future.result(timeout=REQUEST_TIMEOUT)

    async def _startup(self) -> None:
        self._inbox, self._outbox = asyncio.Queue(), asyncio.Queue()
        scope = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}
        self._lifespan = asyncio.create_task(
            self.app(scope, self._inbox.get, self._outbox.put)  # type: ignore[arg-type]
        )
        await self._inbox.put({"type": "lifespan.startup"})
        message = await self._outbox.get()
        assert message["type"] == "lifespan.startup.complete", message
        transport = httpx.ASGITransport(app=self.app)  # type: ignore[arg-type]
        self.client = httpx.AsyncClient(transport=transport, base_url="http://gateway.test")

    async def _shutdown(self) -> None:
        assert self._inbox is not None and self._outbox is not None
        if self.client is not None:
            await self.client.aclose()
        await self._inbox.put({"type": "lifespan.shutdown"})
        await self._outbox.get()
        if self._lifespan is not None:
            await self._lifespan
        left = asyncio.all_tasks() - {asyncio.current_task()}  # e.g. a sweeper mid-sleep
        for task in left:
            task.cancel()
        await asyncio.gather(*left, return_exceptions=True)
