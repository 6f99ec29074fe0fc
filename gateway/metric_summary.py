"""The gateway's own Prometheus figures summarised for the dashboard.

Reads the same view `/metrics` exports (merged over all workers under `--workers N`): per-label
histogram count, mean and quantiles estimated from the buckets the way PromQL's
`histogram_quantile` does, and current gauge values.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from prometheus_client.metrics_core import Metric

from gateway.metrics import merged_registry

QUANTILES = {"p50": 0.5, "p95": 0.95}


def collect() -> list[Metric]:
    """Every metric family, merged over the worker processes when there are several."""
    return list(merged_registry().collect())


def quantile(q: float, buckets: Iterable[tuple[float, float]]) -> float | None:
    """Estimate quantile `q` from cumulative (upper bound, count) buckets, linear within one."""
    ordered = sorted(buckets)
    if not ordered or ordered[-1][1] <= 0:
        return None
    rank = q * ordered[-1][1]
    lower, below = 0.0, 0.0
    for upper, cumulative in ordered:
        if cumulative >= rank:
            if math.isinf(upper):
                return lower  # beyond the last finite bound: the bound is all we know
            if cumulative == below:
                return upper
            return lower + (upper - lower) * (rank - below) / (cumulative - below)
        lower, below = upper, cumulative
    return lower


def histogram(families: list[Metric], name: str, label: str) -> list[dict[str, Any]]:
    """Per value of `label`: count, mean and the QUANTILES of histogram `name`."""
    buckets: dict[str, dict[float, float]] = defaultdict(lambda: defaultdict(float))
    sums: dict[str, float] = defaultdict(float)
    counts: dict[str, float] = defaultdict(float)
    for family in families:
        if family.name != name:
            continue
        for sample in family.samples:
            key = sample.labels.get(label, "")
            if sample.name == name + "_bucket":
                buckets[key][float(sample.labels["le"])] += sample.value
            elif sample.name == name + "_sum":
                sums[key] += sample.value
            elif sample.name == name + "_count":
                counts[key] += sample.value
    rows = []
    for key in sorted(counts):
        count = counts[key]
        if count <= 0:
            continue
        row: dict[str, Any] = {label: key, "count": int(count), "mean": sums[key] / count}
        for title, q in QUANTILES.items():
            row[title] = quantile(q, buckets[key].items())
        rows.append(row)
    return rows


def gauge(families: list[Metric], name: str) -> list[dict[str, Any]]:
    """Current values of gauge `name`, one row per label set (worker pids folded in)."""
    values: dict[tuple[tuple[str, str], ...], float] = defaultdict(float)
    for family in families:
        if family.name != name:
            continue
        for sample in family.samples:
            if sample.name == name:
                labels = tuple(sorted((k, v) for k, v in sample.labels.items() if k != "pid"))
                values[labels] = max(values.get(labels, 0.0), sample.value)
    return [dict(labels, value=value) for labels, value in sorted(values.items())]


def summary() -> dict[str, Any]:
    """The dashboard's measured figures from this gateway's registry."""
    families = collect()
    pending = gauge(families, "gateway_ledger_pending")
    return {
        "time_to_first_token_seconds": histogram(
            families, "gateway_time_to_first_token_seconds", "model"
        ),
        "output_tokens_per_second": histogram(
            families, "gateway_output_tokens_per_second", "model"
        ),
        "upstream_abort_seconds": histogram(families, "gateway_upstream_abort_seconds", "provider"),
        "batch_queue_depth": gauge(families, "gateway_batch_queue_depth"),
        "ledger_pending": int(sum(row["value"] for row in pending)),
    }
