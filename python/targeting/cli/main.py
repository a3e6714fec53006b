"""Command-line entry point: ``targeting <command> --help``.

Each capability's commands live in their own module beside their options (``data``,
``models``, ``experiments``, ``uplift``, ``segments``, ``value``); the options every command
shares are declared once in ``common``. This module builds the parser from them and turns a
refusal into one line and exit code 2.
"""

from __future__ import annotations

import argparse
import sys

from targeting.cli import data, experiments, models, segments, uplift, value
from targeting.cli.common import SINGLE_THREADED, single_threaded_numerics

__all__ = ["SINGLE_THREADED", "build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    """Build the argument parser of every subcommand."""
    parser = argparse.ArgumentParser(
        prog="targeting",
        description="Bayesian purchase-propensity targeting on the marketing_mart warehouse.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for commands in (data, models, experiments, value, uplift, segments):
        commands.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    single_threaded_numerics()
    parser = build_parser()
    args = parser.parse_args(argv)
    import duckdb

    from targeting.core.warehouse import WarehouseError
    from targeting.models.runs import RunError

    try:
        return int(args.func(args))
    except (ValueError, OSError, RunError, WarehouseError, duckdb.Error) as exc:
        # one line naming the input and what was expected; tracebacks are for bugs
        message = " ".join(str(exc).split()) or type(exc).__name__
        if isinstance(exc, OSError) and exc.filename and str(exc.filename) not in message:
            message = f"{exc.filename}: {message}"
        print(f"targeting {args.command}: error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
