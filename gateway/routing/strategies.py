"""The order in which a call tries a model's deployments, per routing strategy.

Each strategy returns every deployment it was given, best first; a call tries them in that
order until one answers. Standbys (weight 0) always come after the weighted deployments.

- `weighted`: a weighted random order (the first pick has probability weight / total).
- `least_inflight`: fewest calls running in this process first; ties by weight.
- `lowest_ttft`: the lowest moving time to first token first. A deployment without a figure
  yet goes first, so each gets measured; and one call in `EXPLORE` goes to a random other
  deployment, so a figure that was bad once is measured again.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence

from gateway.routing.deployment import Deployment

EXPLORE = 0.1

Order = Callable[[Sequence[Deployment], random.Random], list[Deployment]]


def weighted(deployments: Sequence[Deployment], rng: random.Random) -> list[Deployment]:
    if len(deployments) == 1:
        return list(deployments)
    active = [d for d in deployments if d.weight > 0]
    # Efraimidis-Spirakis: sorting by u ** (1 / w) draws a weighted order without replacement
    keyed = sorted(active, key=lambda d: rng.random() ** (1.0 / d.weight), reverse=True)
    return keyed + _standbys(deployments)


def least_inflight(deployments: Sequence[Deployment], rng: random.Random) -> list[Deployment]:
    if len(deployments) == 1:
        return list(deployments)
    shuffled = weighted(deployments, rng)  # ties keep a weighted random order
    return sorted(shuffled, key=lambda d: (d.weight == 0, d.in_flight))


def lowest_ttft(deployments: Sequence[Deployment], rng: random.Random) -> list[Deployment]:
    if len(deployments) == 1:
        return list(deployments)
    shuffled = weighted(deployments, rng)
    unmeasured = [d for d in shuffled if d.ttft is None and d.weight > 0]
    if unmeasured:
        return unmeasured + [d for d in shuffled if d not in unmeasured]
    ranked = sorted(shuffled, key=lambda d: (d.weight == 0, d.ttft))
    if rng.random() < EXPLORE:
        others = [i for i in range(1, len(ranked)) if ranked[i].weight > 0]
        if others:
            ranked.insert(0, ranked.pop(rng.choice(others)))
    return ranked


def _standbys(deployments: Sequence[Deployment]) -> list[Deployment]:
    return [d for d in deployments if d.weight == 0]


STRATEGIES: dict[str, Order] = {
    "weighted": weighted,
    "least_inflight": least_inflight,
    "lowest_ttft": lowest_ttft,
}
