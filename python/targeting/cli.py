"""Command-line entry point: ``targeting <command> --help``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def _cmd_synth(args: argparse.Namespace) -> int:
    from targeting.synth import SynthConfig, generate

    cfg = SynthConfig(scale=args.scale, seed=args.seed, out=Path(args.out), fmt=args.format,
                      ab_test=not args.no_ab_test)
    counts = generate(cfg, progress=not args.quiet)
    for name, rows in counts.items():
        print(f"{cfg.out / name}.{cfg.fmt}: {rows:,} rows")
    print(f"ground truth (for tests and evaluation only): {cfg.out / 'ground_truth'}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """Build the argument parser of every subcommand."""
    parser = argparse.ArgumentParser(
        prog="targeting",
        description="Bayesian purchase-propensity targeting on the marketing_mart warehouse.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    synth = sub.add_parser(
        "synth",
        help="generate raw files in the public apparel dataset's layout",
        description=(
            "Generate the five raw files of the public apparel CRM dataset (same names, "
            "columns and quirks) from hidden per-client traits, plus ground truth in "
            "OUT/ground_truth/ and an optional A/B holdout file."
        ),
    )
    synth.add_argument("--scale", type=float, default=0.02,
                       help="1 = the real sizes (49,849 buyers, 12.7M message rows); default 0.02")
    synth.add_argument("--seed", type=int, default=42, help="random seed (default 42)")
    synth.add_argument("--out", default="data/raw", help="output folder (default data/raw)")
    synth.add_argument("--format", choices=["csv", "parquet"], default="csv",
                       help="file format (default csv, as the public dataset)")
    synth.add_argument("--no-ab-test", action="store_true",
                       help="do not write campaign_assignments (A/B holdout campaigns)")
    synth.add_argument("--quiet", action="store_true", help="no progress messages")
    synth.set_defaults(func=_cmd_synth)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except (ValueError, FileNotFoundError) as exc:
        print(f"targeting {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
