"""`gateway keys create --workload W | list | revoke K`: stored API keys."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from pydantic import ValidationError

from gateway.commands import run, settings_from
from gateway.commands.table import render_table
from gateway.config import Limits
from gateway.ledger.database import Database
from gateway.ledger.keys import KeyStore

LIMIT_FLAGS = {
    "rpm": "requests per minute",
    "tpm": "tokens per minute",
    "concurrency": "calls in flight at once",
    "usd-per-day": "USD per UTC day",
    "usd-per-month": "USD per UTC calendar month",
}


def add_parser(commands: Any) -> None:
    keys = commands.add_parser("keys", help="manage stored API keys (kept hashed)")
    keys.add_argument("--config", help="YAML config file")
    actions = keys.add_subparsers(dest="keys_command", metavar="ACTION", required=True)

    create = actions.add_parser("create", help="create a key; it is printed once, never again")
    create.add_argument("--workload", required=True, help="the workload the key names")
    for flag, what in LIMIT_FLAGS.items():
        create.add_argument(f"--{flag}", metavar="N", help=f"the key's own limit: {what}")
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


def limits_from(args: argparse.Namespace) -> Limits | None:
    """The key's limits from the command line (None without any)."""
    given = {
        flag.replace("-", "_"): value
        for flag in LIMIT_FLAGS
        if (value := getattr(args, flag.replace("-", "_"), None)) is not None
    }
    if not given:
        return None
    try:
        return Limits.model_validate(given)
    except ValidationError as exc:
        problems = "; ".join(
            f"--{str(err['loc'][0]).replace('_', '-')}: {err['msg']}" for err in exc.errors()
        )
        raise SystemExit(f"gateway keys create: {problems}") from None


async def create_key(args: argparse.Namespace) -> None:
    limits = limits_from(args)

    async def create(store: KeyStore) -> None:
        new = await store.create(args.workload, limits)
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
            [k["id"], k["workload"], k["prefix"], _when(k["created_at"]), _when(k["revoked_at"]),
             _limits(k["limits"])]
            for k in keys
        ]
        print(render_table(["id", "workload", "prefix", "created", "revoked", "limits"], rows))

    await _with_store(args, listing)


async def revoke_key(args: argparse.Namespace) -> None:
    async def revoke(store: KeyStore) -> None:
        record = await store.revoke(args.key)
        print(
            f"revoked {record['id']} ({record['prefix']}, workload {record['workload']!r}) "
            f"at {_when(record['revoked_at'])}"
        )

    await _with_store(args, revoke)


def _limits(limits: dict[str, Any] | None) -> str | None:
    if not limits:
        return None
    return " ".join(f"{name}={value:g}" for name, value in limits.items())


def _when(moment: Any) -> str | None:
    return None if moment is None else moment.strftime("%Y-%m-%d %H:%M:%S UTC")
