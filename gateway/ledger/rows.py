"""Finished calls into ledger rows, and landed rows into the metrics.

Each call is costed on its own, so one that cannot be costed loses no other: it is recorded
unmetered (its outcome, no tokens, the failure in `error`), or kept as a dead letter when even
that fails. `observe_rows` counts rows once they are durably taken.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from gateway.calls import Call
from gateway.ledger import costing
from gateway.ledger.database import describe
from gateway.ledger.dead_letters import Letter, dead_call
from gateway.ledger.models import as_decimal
from gateway.ledger.spool import Rows
from gateway.metrics import BATCH_SAVINGS, CANCELLED_COST, COST, TOKENS
from gateway.streaming.meter import Meter

log = logging.getLogger("gateway.ledger")


def cost_calls(batch: list[Call], policies: Mapping[str, str]) -> tuple[Rows, list[Letter]]:
    """Each call's ledger row, costed on its own: a call whose costing fails is recorded
    unmetered, and one that cannot be recorded even so becomes a dead letter."""
    rows: Rows = []
    letters: list[Letter] = []
    for call in batch:
        billing = policies.get(call.provider, "delivered")  # its cancel_billing
        try:
            rows.append(costing.row_for(call, billing))
            continue
        except Exception as exc:
            log.exception("ledger: could not meter call %s; recorded unmetered", call.id)
            failure: Exception = exc
        try:
            rows.append(unmetered_row(call, billing, failure))
        except Exception as exc:
            letters.append(dead_call(call, f"could not be costed: {describe(exc)}"))
    return rows, letters


def unmetered_row(call: Call, billing: str, failure: Exception) -> dict[str, Any]:
    """The row of a call whose costing failed: its outcome with no tokens (nothing for the
    tokenizer to count), token_source `estimated`, the failure in `error`."""
    meter = call.meter
    bare = Meter(
        started=meter.started,
        upstream_sent_at=meter.upstream_sent_at,
        first_token_at=meter.first_token_at,
        last_token_at=meter.last_token_at,
    )
    row = costing.row_for(dataclasses.replace(call, status="failed", meter=bare), billing)
    note = f"could not be metered ({type(failure).__name__}: {str(failure)[:200]})"
    row["status"] = call.status
    row["token_source"] = "estimated"
    row["error"] = f"{call.error}; {note}" if call.error else note
    return row


def needs_tokenizer(call: Call) -> bool:
    try:
        return costing.needs_tokenizer(call)
    except Exception:
        return True  # metering will fail on it too, in the thread


def observe_rows(rows: Rows) -> None:
    """Token and cost counters, added once per (workload, model) per batch: prompt, completion
    (delivered) and cancelled (billed, not delivered) tokens; spend; spend on cancelled calls;
    batch savings. Money is summed exactly and handed to Prometheus as a float once."""
    sums: dict[tuple[str, str], list[Any]] = {}
    for row in rows:
        total = sums.setdefault((row["workload"], row["model"]), [0, 0, 0, *[Decimal(0)] * 3])
        total[0] += row["prompt_tokens"]
        total[1] += row["completion_tokens"]
        total[2] += max(0, row["billed_completion_tokens"] - row["completion_tokens"])
        total[3] += as_decimal(row["cost_usd"])
        total[4] += as_decimal(row["cancelled_cost_usd"])
        total[5] += as_decimal(row["batch_savings_usd"])
    for labels, (prompt, completion, cancelled, cost, cancelled_cost, savings) in sums.items():
        TOKENS.labels(*labels, "prompt").inc(prompt)
        TOKENS.labels(*labels, "completion").inc(completion)
        if cancelled:
            TOKENS.labels(*labels, "cancelled").inc(cancelled)
        COST.labels(*labels).inc(float(cost))
        if cancelled_cost:
            CANCELLED_COST.labels(*labels).inc(float(cancelled_cost))
        if savings:
            BATCH_SAVINGS.labels(*labels).inc(float(savings))
