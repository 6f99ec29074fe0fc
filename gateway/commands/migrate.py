"""`gateway migrate [--config F] [--revision R]`: bring the ledger schema up (or down) to R."""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from gateway.commands import run, settings_from
from gateway.ledger import migrate
from gateway.ledger.database import build_engine


def add_parser(commands: Any) -> None:
    parser = commands.add_parser("migrate", help="apply the ledger's database migrations")
    parser.add_argument("--config", help="YAML config file (its database_url is migrated)")
    parser.add_argument(
        "--revision", default="head", help="target revision (default head); `base` empties it"
    )
    parser.set_defaults(func=run(migrate_command))


async def migrate_command(args: argparse.Namespace) -> None:
    settings = settings_from(args)
    engine = build_engine(settings.database_url)
    where = engine.url.render_as_string()
    try:
        before = await migrate.current(engine)
        if args.revision == "base":
            await asyncio.to_thread(migrate.downgrade, settings.database_url, "base")
        else:
            await asyncio.to_thread(migrate.upgrade, settings.database_url, args.revision)
        after = await migrate.current(engine)
    finally:
        await engine.dispose()
    if before == after:
        print(f"{where}: already at revision {after or 'base'}")
    else:
        print(f"{where}: migrated from {before or 'base'} to {after or 'base'}")
