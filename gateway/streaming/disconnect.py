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
    """One watcher per call, started once the request body has been read.

    The work runs in the caller's own task (no task per call on the hot path); when the client
    leaves, the watcher cancels that task and `run` turns the cancellation into `ClientGone`.
    """

    __slots__ = ("_task", "_main", "_drain", "_aborting", "gone_at", "drained", "enabled",
                 "_on_gone")

    def __init__(
        self, receive: Receive, *, enabled: bool = True, on_gone: Callable[[], None] | None = None
    ) -> None:
        self.gone_at: float | None = None
        self.drained = False
        self.enabled = enabled
        self._on_gone = on_gone
        self._main: asyncio.Task[Any] | None = None  # set only while `run` awaits the work
        self._drain: Callable[[], float | None] | None = None
        self._aborting = False
        self._task: asyncio.Task[None] = asyncio.ensure_future(self._wait(receive))

    async def _wait(self, receive: Receive) -> None:
        while (await receive())["type"] != "http.disconnect":
            pass
        main = self._main
        if main is None:
            return  # the call was over (uvicorn reports a disconnect after a full response)
        self.gone_at = time.perf_counter()
        if self._on_gone is not None:
            self._on_gone()
        if not self.enabled:
            return
        grace = self._drain() if self._drain is not None else None
        if grace:
            self.drained = True
            await asyncio.sleep(grace)  # cancelled by `stop` if the work ends first
            self.drained = False
        if self._main is main:
            self._aborting = True
            main.cancel()

    @property
    def gone(self) -> bool:
        return self.gone_at is not None

    async def run(self, work: Awaitable[T], drain: Callable[[], float | None] | None = None) -> T:
        """Await `work`; if the client leaves first, cancel it and raise `ClientGone`.

        `drain`, asked at the moment the client leaves, may grant seconds to let the work run
        on (reading the upstream to its end for the exact usage) before it is cancelled.
        """
        self._drain = drain
        main = asyncio.current_task()
        assert main is not None, "run() must be awaited inside a task"
        self._main = main
        try:
            result = await work
        except asyncio.CancelledError:
            if not self._aborting:
                raise
            main.uncancel()
            assert self.gone_at is not None
            raise ClientGone(time.perf_counter() - self.gone_at) from None
        finally:
            self._main = None
        if self.drained:
            raise ClientGone(None, drained=True)
        return result

    def stop(self) -> None:
        """The call is over. A drain still sleeping is cancelled; otherwise the watcher is left
        to end by itself: the server answers its pending `receive` with `http.disconnect` once
        the response is complete (uvicorn, and httpx's ASGI transport, do). Cancelling it would
        leave a CancelledError whose traceback ties the whole request (tasks, frames, the
        call) into a reference cycle, which only the garbage collector's full passes free:
        40 objects a call, and collections that held the event loop for milliseconds."""
        if self.drained:
            self._task.cancel()
