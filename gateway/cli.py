"""The `gateway` command line (also `python -m gateway`)."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from gateway import __version__
from gateway.config import ConfigError, Settings, export_for_workers, load_settings

log = logging.getLogger("gateway")


def _settings(args: argparse.Namespace, **overrides: object) -> Settings:
    try:
        return load_settings(args.config, overrides=overrides)
    except ConfigError as exc:
        sys.exit(f"gateway: {exc}")


def _configure_logging(level: str, settings: Settings | None = None) -> None:
    logging.basicConfig(
        level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    if settings is not None:  # provider keys and the admin key masked in every line
        from gateway.redaction import install_log_filter, secrets_of

        install_log_filter(secrets_of(settings))


def cmd_serve(args: argparse.Namespace) -> None:
    import uvicorn

    from gateway.api.protocol import protocol_for

    overrides = {"host": args.host, "port": args.port, "workers": args.workers,
                 "batch_worker": False if args.no_worker else None}
    settings = _settings(args, **overrides)
    _configure_logging(settings.log_level, settings)
    options = dict(
        host=settings.host, port=settings.port, loop="uvloop",
        http=protocol_for(settings),  # httptools, with bounds on the request head
        ws="none",  # the gateway serves no websocket routes
        log_level=settings.log_level, access_log=False,
        timeout_graceful_shutdown=settings.shutdown_grace,
    )
    log.info("gateway %s listening on http://%s:%d", __version__, settings.host, settings.port)
    if settings.workers > 1:
        export_for_workers(args.config, overrides)
        uvicorn.run("gateway.app:app_from_environment", factory=True, workers=settings.workers,
                    **options)  # type: ignore[arg-type]
        return
    from gateway.app import create_app

    uvicorn.run(create_app(settings), **options)  # type: ignore[arg-type]


def cmd_worker(args: argparse.Namespace) -> None:
    from gateway.commands.worker import run

    settings = _settings(args)
    _configure_logging(settings.log_level, settings)
    run(settings)


def cmd_sim(args: argparse.Namespace) -> None:
    from gateway.sim import cli as sim_cli

    _configure_logging("info")
    sim_cli.run(args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gateway",
        description="Self-hosted LLM inference gateway: streaming with end-to-end abort, "
        "a batch lane and a spend ledger. Config: --config, else $GATEWAY_CONFIG, else "
        "./gateway.yaml, else embedded defaults (the simulator's models when no provider "
        "credentials are set).",
    )
    parser.add_argument("--version", action="version", version=f"gateway {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    serve = commands.add_parser("serve", help="run the API server")
    serve.add_argument("--config", help="YAML config file")
    serve.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port to listen on (default 8080)")
    serve.add_argument("--workers", type=int, help="worker processes (default 1)")
    serve.add_argument("--no-worker", action="store_true",
                       help="do not run the batch worker in this process (run `gateway worker`)")
    serve.set_defaults(func=cmd_serve)

    worker = commands.add_parser("worker", help="run the batch worker alone (scale it separately)")
    worker.add_argument("--config", help="YAML config file")
    worker.set_defaults(func=cmd_worker)

    from gateway.sim import cli as sim_cli

    sim = commands.add_parser(
        "sim", help="run the upstream simulator (OpenAI, Anthropic and Gemini shapes)"
    )
    sim_cli.add_arguments(sim)
    sim.set_defaults(func=cmd_sim)

    from gateway.commands import bench

    bench.add_parser(commands)

    from gateway.commands import register as register_ledger_commands

    register_ledger_commands(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    args.func(args)
