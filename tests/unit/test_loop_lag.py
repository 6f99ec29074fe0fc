"""The event-loop lag probe: a stalled loop shows up in its histogram."""

from __future__ import annotations

import asyncio
import time

from prometheus_client import CollectorRegistry, Histogram

from gateway.loop_lag import LoopLagProbe


def _sample(registry: CollectorRegistry, name: str, labels: dict[str, str] | None = None) -> float:
    value = registry.get_sample_value(name, labels or {})
    return 0.0 if value is None else value


async def test_a_stalled_loop_is_recorded_as_lag() -> None:
    registry = CollectorRegistry()
    histogram = Histogram("lag_seconds", "lag", buckets=(0.01, 0.05, 0.1, 1.0),
                          registry=registry)
    probe = LoopLagProbe(histogram, interval=0.01)
    probe.start()
    try:
        await asyncio.sleep(0.1)  # idle: ticks on time
        on_time = _sample(registry, "lag_seconds_count")
        assert on_time >= 3
        assert _sample(registry, "lag_seconds_bucket", {"le": "0.05"}) == on_time
        time.sleep(0.12)  # noqa: ASYNC251 - the point: a synchronous step holds the loop
        await asyncio.sleep(0.05)
        late = _sample(registry, "lag_seconds_count") - _sample(
            registry, "lag_seconds_bucket", {"le": "0.1"})
        assert late == 1  # the tick due during the stall ran > 100 ms late
    finally:
        probe.stop()
    count = _sample(registry, "lag_seconds_count")
    await asyncio.sleep(0.05)
    assert _sample(registry, "lag_seconds_count") == count  # stopped
