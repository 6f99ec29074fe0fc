"""`gateway keys create --workload W | list | revoke K`: stored API keys."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from gateway.commands import run, settings_from
from gateway.commands.table import render_table
from gateway.ledger.database import Database
from gateway.ledger.keys import KeyStore


def add_parser(commands: Any) -> None:
    keys = commands.add_parser("keys", help="manage stored API keys (kept hashed)")
    keys.add_argument("--config", help="YAML config file")
    actions = keys.add_subparsers(dest="keys_command", metavar="ACTION", required=True)

    create = actions.add_parser("create", help="create a key; it is printed once, never again")
    create.add_argument("--workload", required=True, help="the workload the key names")
    create.set_defaults(func=run(create_key))

    listing = actions.add_parser("list", help="list keys (id, workload, prefix, dates)")
    listing.add_argument("--active", action="store_true", help="hide revoked keys")
    listing.set_defaults(func=run(list_keys))

    revoke = actions.add_parser("revoke", help="revoke a key by id or shown prefix")
    revoke.add_argument("key", help="key id (key_...), shown prefix (gw-...) or the key itself")
    revoke.set_defaults(func=run(revoke_key))
    for action in (create, listing, revoke):
        action.add_argument("--config", default=argparse.SUPPRESS, help="YAML config file")


async def _with_store(args: argparse.Namespace, action: Any) -> None:
    database = Database(settings_from(args))
    try:
        await database.ensure_ready()
        await action(KeyStore(database))
    finally:
        await database.close()


async def create_key(args: argparse.Namespace) -> None:
    async def create(store: KeyStore) -> None:
        new = await store.create(args.workload)
        print(
            f"created key {new.id} for workload {new.workload!r}; it is shown only this once:",
            file=sys.stderr,
        )
        print(new.key)

    await _with_store(args, create)


async def list_keys(args: argparse.Namespace) -> None:
    async def listing(store: KeyStore) -> None:
        keys = await store.list(include_revoked=not args.active)
        rows = [
            [k["id"], k["workload"], k["prefix"], _when(k["created_at"]), _when(k["revoked_at"])]
            for k in keys
        ]
        print(render_table(["id", "workload", "prefix", "created", "revoked"], rows))

    await _with_store(args, listing)


async def revoke_key(args: argparse.Namespace) -> None:
    async def revoke(store: KeyStore) -> None:
        record = await store.revoke(args.key)
        print(
            f"revoked {record['id']} ({record['prefix']}, workload {record['workload']!r}) "
            f"at {_when(record['revoked_at'])}"
        )

    await _with_store(args, revoke)


def _when(moment: Any) -> str | None:
    return None if moment is None else moment.strftime("%Y-%m-%d %H:%M:%S UTC")
