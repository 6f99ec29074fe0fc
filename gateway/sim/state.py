"""The mutable state one simulator app shares across requests."""

from __future__ import annotations

import random

from gateway.sim.batches import BatchStore
from gateway.sim.directive import Plan, default_plan
from gateway.sim.options import SimOptions
from gateway.sim.stats import StatsStore


class SimState:
    """Options, the default plan, stats, batches and files, and the seeded random sources."""

    def __init__(self, options: SimOptions) -> None:
        self.options = options
        self.base_plan: Plan = default_plan(options)
        self.stats = StatsStore()
        self.split_rng = random.Random(options.seed)
        self.failure_rng = random.Random(options.seed + 1)
        self.batches = BatchStore(options)

    def injects_failure(self) -> bool:
        """Whether this request is one of the `error_rate` fraction answered 500."""
        rate = self.options.error_rate
        return rate > 0 and self.failure_rng.random() < rate
