"""The ledger's command-line commands: `gateway migrate`, `gateway keys ...`, `gateway spend`,
`gateway ledger ...`."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable, Coroutine
from typing import Any

from gateway.config import ConfigError, Settings, load_settings
from gateway.errors import GatewayError


def settings_from(args: argparse.Namespace) -> Settings:
    try:
        return load_settings(getattr(args, "config", None))
    except ConfigError as exc:
        sys.exit(f"gateway: {exc}")


def run(command: Callable[[argparse.Namespace], Coroutine[Any, Any, Any]]) -> Callable[..., None]:
    """An argparse handler running an async command; gateway errors exit with their message."""

    def handler(args: argparse.Namespace) -> None:
        try:
            asyncio.run(command(args))
        except GatewayError as exc:
            sys.exit(f"gateway: {exc.message}")

    return handler


def register(commands: Any) -> None:
    """Add `migrate`, `keys`, `spend` and `ledger` to the `gateway` subcommands."""
    from gateway.commands import keys, ledger, migrate, spend

    migrate.add_parser(commands)
    keys.add_parser(commands)
    spend.add_parser(commands)
    ledger.add_parser(commands)
