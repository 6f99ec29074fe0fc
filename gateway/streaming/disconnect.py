"""Watch the ASGI `receive` channel for `http.disconnect` and race it against the work.

Starlette's `StreamingResponse` races "send" against "listen for disconnect" the same way;
here the race also covers the time before the first byte and non-streaming calls.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from starlette.types import Receive

T = TypeVar("T")


class ClientGone(Exception):
    """The client disconnected; the work was cancelled and the upstream closed."""

    def __init__(self, abort_seconds: float | None, *, drained: bool = False) -> None:
        super().__init__("client disconnected")
        self.abort_seconds = abort_seconds  # None when the call was drained to its end
        self.drained = drained


class DisconnectWatch:
    """One watcher per call, started once the request body has been read."""

    __slots__ = ("_task", "gone_at", "enabled", "_on_gone")

    def __init__(
        self, receive: Receive, *, enabled: bool = True, on_gone: Callable[[], None] | None = None
    ) -> None:
        self.gone_at: float | None = None
        self.enabled = enabled
        self._on_gone = on_gone
        self._task: asyncio.Task[None] = asyncio.ensure_future(self._wait(receive))

    async def _wait(self, receive: Receive) -> None:
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                self.gone_at = time.perf_counter()
                if self._on_gone is not None:
                    self._on_gone()
                return

    @property
    def gone(self) -> bool:
        return self.gone_at is not None

    async def run(self, work: Awaitable[T], drain: Callable[[], float | None] | None = None) -> T:
        """Await `work`; if the client leaves first, cancel it and raise `ClientGone`.

        `drain`, asked at the moment the client leaves, may grant seconds to let the work run
        on (reading the upstream to its end for the exact usage) before it is cancelled.
        """
        task: asyncio.Future[T] = asyncio.ensure_future(work)
        if not self.enabled:
            return await task
        done, _ = await asyncio.wait({task, self._task}, return_when=asyncio.FIRST_COMPLETED)
        if task in done:
            return task.result()
        grace = drain() if drain is not None else None
        if grace:
            done, _ = await asyncio.wait({task}, timeout=grace)
            if task in done:
                if not task.cancelled():
                    task.exception()
                raise ClientGone(None, drained=True)
        task.cancel()
        await _settle(task)
        assert self.gone_at is not None
        raise ClientGone(time.perf_counter() - self.gone_at)

    def stop(self) -> None:
        self._task.cancel()


async def _settle(task: asyncio.Future[Any]) -> None:
    """Wait for a cancelled task to finish its cleanup (closing the upstream connection)."""
    await asyncio.wait({task})
    if not task.cancelled():
        task.exception()  # retrieved so asyncio does not log it; the call is over anyway
