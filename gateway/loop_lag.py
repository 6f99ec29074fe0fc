"""The event loop's lag: a timer due every 50 ms reports how late it ran.

A stalled loop (a long synchronous step, a garbage collection over a large heap) freezes every
stream in the process; `gateway_event_loop_lag_seconds` shows how often and for how long. The
probe is one timer callback, not a task: it costs a few microseconds per tick.
"""

from __future__ import annotations

import asyncio

from prometheus_client import Histogram

from gateway.metrics import LOOP_LAG

INTERVAL = 0.05


class LoopLagProbe:
    def __init__(self, histogram: Histogram = LOOP_LAG, interval: float = INTERVAL) -> None:
        self.histogram = histogram
        self.interval = interval
        self._loop: asyncio.AbstractEventLoop | None = None
        self._handle: asyncio.TimerHandle | None = None
        self._due = 0.0

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._schedule()

    def _schedule(self) -> None:
        assert self._loop is not None
        self._due = self._loop.time() + self.interval
        self._handle = self._loop.call_at(self._due, self._tick)

    def _tick(self) -> None:
        assert self._loop is not None
        self.histogram.observe(max(0.0, self._loop.time() - self._due))
        self._schedule()

    def stop(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
