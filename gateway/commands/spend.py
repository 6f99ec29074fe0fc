"""`gateway spend [--by workload,model] [--since T] [--until T]`: spend as a terminal table."""

from __future__ import annotations

import argparse
from typing import Any

from gateway.commands import run, settings_from
from gateway.commands.table import render_table
from gateway.ledger import migrate
from gateway.ledger.database import Database
from gateway.ledger.models import as_decimal
from gateway.ledger.queries import MONEY, LedgerQueries, parse_groups
from gateway.ledger.timespec import parse_window

COLUMNS = [
    ("requests", "requests"),
    ("completed", "completed"),
    ("cancelled", "cancelled"),
    ("failed", "failed"),
    ("prompt_tokens", "prompt tok"),
    ("completion_tokens", "completion tok"),
    ("cached_prompt_tokens", "cached tok"),
    ("cache_write_tokens", "cache write tok"),
    ("cancelled_completion_tokens", "cancelled tok"),
    ("cost_usd", "cost $"),
    ("cancelled_cost_usd", "cancelled $"),
    ("batch_savings_usd", "batch saved $"),
]


def add_parser(commands: Any) -> None:
    parser = commands.add_parser("spend", help="spend per workload and model, as a table")
    parser.add_argument("--config", help="YAML config file (its database_url is read)")
    parser.add_argument(
        "--by",
        default="workload,model",
        help="group by any of workload, model, provider, route, mode",
    )
    parser.add_argument("--since", help="ISO 8601 time or relative (30m, 24h, 7d)")
    parser.add_argument("--until", help="ISO 8601 time or relative (30m, 24h, 7d)")
    parser.set_defaults(func=run(spend_command))


async def spend_command(args: argparse.Namespace) -> None:
    groups = parse_groups(args.by)
    since, until = parse_window(args.since, args.until)
    database = Database(settings_from(args))
    try:
        if await migrate.current(database.engine) is None:
            where = database.engine.url.render_as_string()
            raise SystemExit(
                f"gateway: no ledger at {where} yet: run `gateway migrate` or start `gateway serve`"
            )
        rows = await LedgerQueries(database).spend(groups, since, until)
    finally:
        await database.close()
    print(spend_table(groups, rows))


def _total(rows: list[dict[str, Any]], key: str) -> int | float:
    """A column's sum; money is added as decimals (the rows carry JSON numbers)."""
    if key in MONEY:
        return float(sum(as_decimal(row[key]) for row in rows))
    return sum(row[key] for row in rows)


def spend_table(groups: list[str], rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "no calls recorded in this period"
    body = [[row[g] for g in groups] + [row[key] for key, _ in COLUMNS] for row in rows]
    if len(rows) > 1:
        totals = [_total(rows, key) for key, _ in COLUMNS]
        body.append((["TOTAL"] + [""] * (len(groups) - 1) if groups else []) + totals)
    return render_table(groups + [title for _, title in COLUMNS], body)
