"""`python -m gateway.sim`: the simulator without the rest of the gateway CLI."""

from __future__ import annotations

import argparse

from gateway.sim.cli import add_arguments, run


def main() -> None:
    """Parse the simulator's options and serve."""
    parser = argparse.ArgumentParser(prog="python -m gateway.sim", description=__doc__)
    add_arguments(parser)
    run(parser.parse_args())


if __name__ == "__main__":
    main()
