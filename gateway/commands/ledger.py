"""`gateway ledger dead-letters | replay-dead-letters`: rows the database refused, kept aside.

Both read the dead-letter file of the config's database (next to its spool: run them where
the gateway runs, or name the file with `--file`).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from gateway.calls import Call
from gateway.commands import run, settings_from
from gateway.commands.table import render_table
from gateway.config import Settings
from gateway.ledger import costing
from gateway.ledger.database import Database
from gateway.ledger.dead_letters import DeadLetters, dead_letter_path
from gateway.ledger.service import spool_path
from gateway.ledger.writer import write_rows

WRITE_TIMEOUT = 30.0


def add_parser(commands: Any) -> None:
    ledger = commands.add_parser("ledger", help="the ledger's dead letters (rows it refused)")
    actions = ledger.add_subparsers(dest="ledger_command", metavar="ACTION", required=True)
    listing = actions.add_parser("dead-letters", help="list the rows the database refused")
    listing.set_defaults(func=run(list_dead_letters))
    replay = actions.add_parser(
        "replay-dead-letters", help="write the rows the database now takes; keep the rest"
    )
    replay.set_defaults(func=run(replay_dead_letters))
    for action in (listing, replay):
        action.add_argument("--config", help="YAML config file (its database_url is read)")
        action.add_argument("--file", help="the dead-letter file (default: next to the spool)")


def dead_letters_of(args: argparse.Namespace, settings: Settings) -> DeadLetters:
    path = Path(args.file) if args.file else dead_letter_path(spool_path(settings))
    return DeadLetters(path)


async def list_dead_letters(args: argparse.Namespace) -> None:
    letters = dead_letters_of(args, settings_from(args)).entries()
    if not letters:
        print("no dead letters")
        return
    rows = [
        [
            letter.get("id"),
            "call" if "call" in letter else "row",
            (letter.get("row") or letter.get("call") or {}).get("workload"),
            str(letter.get("at") or "")[:19],
            letter.get("reason"),
        ]
        for letter in letters
    ]
    print(render_table(["id", "kind", "workload", "kept at", "reason"], rows))


async def replay_dead_letters(args: argparse.Namespace) -> None:
    settings = settings_from(args)
    dead = dead_letters_of(args, settings)
    if not dead.entries():
        print("no dead letters")
        return
    billing = {p.name: p.billing_after_cancel for p in settings.providers}
    database = Database(settings)

    async def write(row: dict[str, Any]) -> None:
        await write_rows(database, [row], WRITE_TIMEOUT)

    def cost(call: Call) -> dict[str, Any]:
        return costing.row_for(call, billing.get(call.provider, "delivered"))

    try:
        await database.ensure_ready()  # an unreachable database fails here, before any change
        written, kept = await dead.replay_letters(write, cost)
    finally:
        await database.close()
    print(f"{written} rows written, {kept} kept in {dead.path}")
