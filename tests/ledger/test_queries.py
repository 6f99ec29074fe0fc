"""Spend roll-ups and record queries over real rows; time and group_by parsing."""

from __future__ import annotations

from datetime import timedelta

import pytest

from gateway.errors import BadRequest
from gateway.ledger.costing import row_for
from gateway.ledger.database import Database
from gateway.ledger.queries import LedgerQueries, parse_groups
from gateway.ledger.timespec import parse_time, parse_window
from tests.ledger.helpers import make_call, make_meter, settings, utc

DAY = utc(2025, 6, 1)


@pytest.fixture
async def ledger(db_url: str):
    database = Database(settings(db_url))
    await database.ensure_ready()
    s = database.settings
    billing = {"up": "delivered", "gen": "generated"}
    calls = [
        # chat-ui / gpt-4o-mini: two completed, one cancelled after 4 tokens
        make_call(s, meter=make_meter([], usage=(100, 10)), created_at=DAY),
        make_call(s, meter=make_meter([], usage=(50, 5)), created_at=DAY + timedelta(hours=1)),
        make_call(
            s, status="cancelled", meter=make_meter([" a"] * 4), created_at=DAY + timedelta(hours=2)
        ),
        # chat-ui / gen-model (cancel_billing: generated): one cancelled after 2 tokens
        make_call(
            s,
            model="gen-model",
            status="cancelled",
            meter=make_meter([" a"] * 2),
            created_at=DAY + timedelta(hours=3),
        ),
        # etl / gpt-4o-mini: one batch call and one failure, a day later
        make_call(
            s,
            workload="etl",
            mode="batch",
            meter=make_meter([], usage=(1000, 100)),
            created_at=DAY + timedelta(days=1),
        ),
        make_call(
            s,
            workload="etl",
            status="failed",
            meter=make_meter([]),
            created_at=DAY + timedelta(days=1, hours=1),
        ),
    ]
    rows = [row_for(call, billing[call.provider]) for call in calls]
    await database.write_calls(rows)
    yield LedgerQueries(database), {row["id"]: row for row in rows}
    await database.close()


async def test_spend_by_workload_and_model(ledger) -> None:  # type: ignore[no-untyped-def]
    queries, rows = ledger
    spend = await queries.spend(["workload", "model"])
    by_key = {(r["workload"], r["model"]): r for r in spend}
    assert set(by_key) == {
        ("chat-ui", "gpt-4o-mini"),
        ("chat-ui", "gen-model"),
        ("etl", "gpt-4o-mini"),
    }
    chat = by_key["chat-ui", "gpt-4o-mini"]
    expected = [
        r for r in rows.values() if (r["workload"], r["model"]) == ("chat-ui", "gpt-4o-mini")
    ]
    assert (chat["requests"], chat["completed"], chat["cancelled"], chat["failed"]) == (3, 2, 1, 0)
    assert chat["prompt_tokens"] == sum(r["prompt_tokens"] for r in expected)
    assert chat["completion_tokens"] == 10 + 5 + 4
    assert chat["cancelled_completion_tokens"] == 0  # delivered billing: nothing beyond
    assert chat["cost_usd"] == float(sum(r["cost_usd"] for r in expected))
    cancelled = [r for r in expected if r["status"] == "cancelled"]
    assert chat["cancelled_cost_usd"] == float(cancelled[0]["cost_usd"])
    generated = by_key["chat-ui", "gen-model"]
    assert generated["cancelled_completion_tokens"] == 1  # the token in flight at the abort
    assert generated["billed_completion_tokens"] == 3
    etl = by_key["etl", "gpt-4o-mini"]
    assert (etl["requests"], etl["completed"], etl["failed"]) == (2, 1, 1)
    assert etl["batch_savings_usd"] == (1000 * 1.0 + 100 * 2.0) / 1e6 * 0.5
    costs = [r["cost_usd"] for r in spend]
    assert costs == sorted(costs, reverse=True)


async def test_spend_totals_and_time_window(ledger) -> None:  # type: ignore[no-untyped-def]
    queries, rows = ledger
    [total] = await queries.spend([])
    assert total["requests"] == 6
    assert total["cost_usd"] == float(sum(r["cost_usd"] for r in rows.values()))
    first_day = await queries.spend(["workload"], since=DAY, until=DAY + timedelta(days=1))
    assert [(r["workload"], r["requests"]) for r in first_day] == [("chat-ui", 4)]
    by_mode = await queries.spend(["mode"], since=DAY + timedelta(days=1))
    assert sorted((r["mode"], r["requests"]) for r in by_mode) == [("batch", 1), ("stream", 1)]
    assert await queries.spend(["model"], since=DAY + timedelta(days=5)) == []


async def test_records_newest_first_and_filtered(ledger) -> None:  # type: ignore[no-untyped-def]
    queries, rows = ledger
    recent = await queries.recent(limit=100)
    assert [r["id"] for r in recent] == sorted(
        rows, key=lambda i: rows[i]["created_at"], reverse=True
    )
    assert [r["status"] for r in await queries.recent(status="cancelled")] == ["cancelled"] * 2
    assert {r["workload"] for r in await queries.recent(workload="etl")} == {"etl"}
    assert len(await queries.recent(limit=2)) == 2
    one = await queries.get(recent[-1]["id"])
    assert one is not None and one["object"] == "gateway.request"
    assert one["created_at"] == DAY and one["created_at"].tzinfo is not None
    assert one["prompt_tokens"] == rows[one["id"]]["prompt_tokens"]
    assert await queries.get("0" * 32) is None


def test_parse_time_accepts_iso_and_relative() -> None:
    now = utc(2025, 6, 2, 12)
    assert parse_time("24h", now) == utc(2025, 6, 1, 12)
    assert parse_time("30m", now) == utc(2025, 6, 2, 11, 30)
    assert parse_time("7d", now) == utc(2025, 5, 26, 12)
    assert parse_time("2025-06-01", now) == utc(2025, 6, 1)
    assert parse_time("2025-06-01T10:00:00Z", now) == utc(2025, 6, 1, 10)
    assert parse_time("2025-06-01T12:00:00+02:00", now) == utc(2025, 6, 1, 10)
    with pytest.raises(ValueError, match="ISO 8601"):
        parse_time("yesterday", now)


def test_bad_parameters_are_400s_naming_them() -> None:
    assert parse_groups("workload, model,workload") == ["workload", "model"]
    assert parse_groups("") == []
    with pytest.raises(BadRequest) as bad_group:
        parse_groups("workload,colour")
    assert bad_group.value.param == "group_by" and "colour" in bad_group.value.message
    with pytest.raises(BadRequest) as bad_until:
        parse_window("24h", "soon")
    assert bad_until.value.param == "until"
    assert parse_window(None, None) == (None, None)
