"""Graceful shutdown: readiness turns off the moment SIGTERM (or SIGINT) arrives.

The order on SIGTERM:

1. this hook marks the gateway not ready (`/readyz` answers 503 on any connection still open);
2. uvicorn closes the listening socket (new connections are refused) and lets open calls run
   on for up to `shutdown_grace` seconds, then cancels what is left;
3. the lifespan shutdown (`GatewayState.close`) stops the batch worker, which leaves queued
   calls for the next one, closes the upstream pool and flushes the ledger.

uvicorn owns the signal handlers while it serves and restores its predecessors on exit; the hook
chains onto whatever handler is installed when the app starts, so uvicorn still sees the signal.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any

SIGNALS = (signal.SIGTERM, signal.SIGINT)


def on_termination(callback: Callable[[], None]) -> Callable[[], None]:
    """Call `callback` first whenever SIGTERM or SIGINT arrives; returns the undo function.

    The callback runs inside a signal handler: it must only set flags (or schedule work with
    `loop.call_soon_threadsafe`). Outside the main thread (an app served by a test harness)
    signals cannot be caught and this does nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    installed: dict[int, Any] = {}

    for sig in SIGNALS:
        previous = signal.getsignal(sig)

        def handler(signum: int, frame: FrameType | None, previous: Any = previous) -> None:
            callback()
            if callable(previous):
                previous(signum, frame)
            elif previous == signal.SIG_DFL:
                signal.signal(signum, signal.SIG_DFL)
                signal.raise_signal(signum)

        signal.signal(sig, handler)
        installed[sig] = (handler, previous)

    def undo() -> None:
        for sig, (handler, previous) in installed.items():
            if signal.getsignal(sig) is handler:
                signal.signal(sig, previous)

    return undo
