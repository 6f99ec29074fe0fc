"""Prometheus metrics named by the SPEC; labels stay low-cardinality (no ids, no keys)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

from gateway.config import prometheus_multiprocess_dir

if TYPE_CHECKING:
    from gateway.calls import Call

REGISTRY = CollectorRegistry(auto_describe=True)

_LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5,
                    10, 30)
_ABORT_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1, 5)

REQUESTS = Counter(
    "gateway_requests", "Calls handled, by outcome.",
    ["workload", "model", "mode", "status"], registry=REGISTRY,
)
TOKENS = Counter(
    "gateway_tokens", "Tokens by kind: prompt, completion (delivered), cancelled (billed after "
    "an abort but not delivered).", ["workload", "model", "kind"], registry=REGISTRY,
)
COST = Counter("gateway_cost_usd", "Spend in USD.", ["workload", "model"], registry=REGISTRY)
CANCELLED_COST = Counter(
    "gateway_cancelled_cost_usd", "Spend in USD on calls the client cancelled.",
    ["workload", "model"], registry=REGISTRY,
)
BATCH_SAVINGS = Counter(
    "gateway_batch_savings_usd", "USD saved by the batch lane.", ["workload", "model"],
    registry=REGISTRY,
)
TTFT = Histogram(
    "gateway_time_to_first_token_seconds", "Request received -> first token relayed.",
    ["model"], buckets=_LATENCY_BUCKETS, registry=REGISTRY,
)
OUTPUT_TPS = Histogram(
    "gateway_output_tokens_per_second", "Output tokens per second of generation, per call.",
    ["model"], buckets=(1, 5, 10, 20, 40, 60, 80, 100, 150, 200, 400, 1000), registry=REGISTRY,
)
ABORT = Histogram(
    "gateway_upstream_abort_seconds", "Client gone -> upstream connection closed.",
    ["provider"], buckets=_ABORT_BUCKETS, registry=REGISTRY,
)
OVERHEAD = Histogram(
    "gateway_overhead_seconds", "Request received -> upstream request sent (gateway's own time).",
    buckets=(0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.05), registry=REGISTRY,
)
LOOP_LAG = Histogram(
    "gateway_event_loop_lag_seconds", "How late the event loop ran a timer (every 50 ms): "
    "time during which every call in the process waited.",
    buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
    registry=REGISTRY,
)
RATE_LIMITED = Counter(
    "gateway_rate_limited", "Calls refused by a workload's or key's own limit or budget.",
    ["workload", "limit"], registry=REGISTRY,
)
# Under `--workers N` (multiprocess mode) gauges combine across processes: the queue depth is
# a shared fact every worker reads (max), the ledger backlog is per process (sum of live ones).
BATCH_QUEUE_DEPTH = Gauge(
    "gateway_batch_queue_depth", "Calls waiting in the batch lane.", ["provider", "model"],
    registry=REGISTRY, multiprocess_mode="max",
)
LEDGER_PENDING = Gauge(
    "gateway_ledger_pending", "Ledger records not yet written to the database.",
    registry=REGISTRY, multiprocess_mode="livesum",
)
# A shared figure with Redis (every process reads the same); per process without it, where the
# least is what any one process still admits.
BUDGET_REMAINING = Gauge(
    "gateway_budget_remaining_usd", "USD a workload may still reserve in the current UTC day "
    "or month (budget - spent - reserved by calls in flight).", ["workload", "period"],
    registry=REGISTRY, multiprocess_mode="livemin",
)
# One dead-letter file per database, shared by the processes writing it: each reports its size.
LEDGER_DEAD_LETTERS = Gauge(
    "gateway_ledger_dead_letter_rows", "Ledger rows the database refused, kept in the "
    "dead-letter file for `gateway ledger replay-dead-letters`.",
    registry=REGISTRY, multiprocess_mode="livemax",
)

# Per deployment (gateway/routing): labels are the model and the deployment's configured name.
DEPLOYMENT_IN_FLIGHT = Gauge(
    "gateway_deployment_in_flight", "Calls running on a deployment.", ["model", "deployment"],
    registry=REGISTRY, multiprocess_mode="livesum",
)
DEPLOYMENT_HEALTHY = Gauge(
    "gateway_deployment_healthy", "1 if the deployment takes calls, 0 while it cools down.",
    ["model", "deployment"], registry=REGISTRY, multiprocess_mode="livemin",
)
UPSTREAM_ATTEMPTS = Counter(
    "gateway_upstream_attempts", "Upstream attempts by outcome: ok, unavailable, timeout, "
    "first_byte_timeout, server_error, rate_limited, client_error, broken_stream, cancelled.",
    ["model", "deployment", "outcome"], registry=REGISTRY,
)


def merged_registry() -> CollectorRegistry:
    """This process's metrics, or under `--workers N` those of every worker merged."""
    if prometheus_multiprocess_dir():
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return registry
    return REGISTRY


def render() -> tuple[bytes, str]:
    """The exposition text and its content type (merged over all workers when several)."""
    return generate_latest(merged_registry()), CONTENT_TYPE_LATEST


def process_exited(pid: int) -> None:
    """Drop a dead worker's live gauges (multiprocess mode only)."""
    if prometheus_multiprocess_dir():
        multiprocess.mark_process_dead(pid)


def observe_call(call: Call) -> None:
    """Request-path metrics of a finished call (token and cost counters come from the ledger)."""
    meter = call.meter
    model = call.model.name
    REQUESTS.labels(call.identity.workload, model, call.mode, call.status).inc()
    if meter.upstream_sent_at is not None:
        OVERHEAD.observe(meter.upstream_sent_at - meter.started)
    if meter.first_token_at is not None:
        TTFT.labels(model).observe(meter.first_token_at - meter.started)
        if meter.last_token_at is not None and meter.delivered_chunks > 1:
            elapsed = meter.last_token_at - meter.first_token_at
            if elapsed > 0:
                tokens = meter.completion_tokens or meter.delivered_chunks
                OUTPUT_TPS.labels(model).observe((tokens - 1) / elapsed)
    if call.abort_seconds is not None:
        ABORT.labels(call.provider).observe(call.abort_seconds)
