"""`gateway sim`: run the upstream simulator under uvicorn."""

from __future__ import annotations

import argparse
import logging

import uvicorn

from gateway import heap
from gateway.sim.app import create_sim_app
from gateway.sim.options import DEFAULT_MODELS, SimOptions

logger = logging.getLogger("gateway.sim")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the simulator's options to `parser`."""
    defaults = SimOptions()
    add = parser.add_argument
    add("--host", default=defaults.host, help="interface to listen on")
    add("--port", type=int, default=defaults.port, help="port to listen on (0 = any free port)")
    add("--ttft-ms", type=float, default=defaults.ttft_ms, help="time to first token")
    add(
        "--tokens-per-second",
        type=float,
        default=defaults.tokens_per_second,
        help="output speed; 0 sends all tokens at once",
    )
    add("--output-tokens", type=int, default=defaults.output_tokens, help="output length")
    add(
        "--no-stream-usage",
        action="store_true",
        help="ignore stream_options.include_usage, like llama-cpp-python's server",
    )
    add("--require-key", default=None, metavar="KEY", help="answer 401 unless this key is sent")
    add(
        "--models",
        default=",".join(DEFAULT_MODELS),
        help="comma-separated model ids listed by GET /v1/models",
    )
    add("--seed", type=int, default=defaults.seed, help="seed for tool-argument split points")
    add(
        "--error-rate",
        type=float,
        default=defaults.error_rate,
        help="fraction of calls answered 500",
    )
    add(
        "--ping-every-ms",
        type=float,
        default=defaults.ping_every_ms,
        help="Anthropic ping interval; 0 sends one ping after message_start",
    )
    add(
        "--batch-delay-ms",
        type=float,
        default=defaults.batch_delay_ms,
        help="time from creating a batch to its end; 0 ends it at the first poll",
    )
    add(
        "--batch-fail-rate",
        type=float,
        default=defaults.batch_fail_rate,
        help="fraction of batch items answered 500 (seeded)",
    )


def options_from(args: argparse.Namespace) -> SimOptions:
    """SimOptions from parsed arguments."""
    return SimOptions(
        host=args.host,
        port=args.port,
        ttft_ms=args.ttft_ms,
        tokens_per_second=args.tokens_per_second,
        output_tokens=args.output_tokens,
        no_stream_usage=args.no_stream_usage,
        require_key=args.require_key,
        models=args.models,
        seed=args.seed,
        error_rate=args.error_rate,
        ping_every_ms=args.ping_every_ms,
        batch_delay_ms=args.batch_delay_ms,
        batch_fail_rate=args.batch_fail_rate,
    )


def run(args: argparse.Namespace) -> None:
    """Serve the simulator until interrupted; the log line appears once the port is bound."""
    options = options_from(args)
    config = uvicorn.Config(
        create_sim_app(options),
        host=options.host,
        port=options.port,
        loop="uvloop",
        http="httptools",
        lifespan="off",
        access_log=False,
        log_level="warning",
    )
    sock = config.bind_socket()
    sock.listen(config.backlog)
    host, port = sock.getsockname()[:2]
    logging.basicConfig(format="%(message)s")
    logger.setLevel(logging.INFO)
    logger.info("simulator listening on http://%s:%d", host, port)
    heap.settle()  # as the gateway: what start-up left is never walked by a full collection
    uvicorn.Server(config).run(sockets=[sock])
