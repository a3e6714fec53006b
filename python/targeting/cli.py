"""Command-line entry point: ``targeting <command> --help``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def _cmd_synth(args: argparse.Namespace) -> int:
    from targeting.synth import SynthConfig, generate

    cfg = SynthConfig(
        scale=args.scale,
        seed=args.seed,
        out=Path(args.out),
        fmt=args.format,
        ab_test=not args.no_ab_test,
    )
    counts = generate(cfg, progress=not args.quiet)
    for name, rows in counts.items():
        print(f"{cfg.out / name}.{cfg.fmt}: {rows:,} rows")
    print(f"ground truth (for tests and evaluation only): {cfg.out / 'ground_truth'}")
    return 0


def _cmd_fit(args: argparse.Namespace) -> int:
    from targeting.fit import fit_spec
    from targeting.specs import load_spec

    overrides = {
        "method": args.method,
        "draws": args.draws,
        "tune": args.tune,
        "chains": args.chains,
        "seed": args.seed,
    }
    overrides = {k: v for k, v in overrides.items() if v is not None}
    spec = load_spec(args.spec).with_sampler(**overrides)
    result = fit_spec(spec, Path(args.db), progress=not args.quiet, overrides=overrides)
    print(f"run {result.run_id} saved in {result.folder}")
    print(f"diagnostics: {result.diagnostics.message}")
    if not result.diagnostics.ok and args.strict:
        return 3
    return 0


def _cmd_score(args: argparse.Namespace) -> int:
    from targeting.score import score_run

    result = score_run(args.run, Path(args.db), chunk_rows=args.chunk_rows, progress=not args.quiet)
    print(
        f"scored {result.n_scored:,} clients at {result.as_of} with run {result.run_id} "
        f"into ml.customer_scores ({result.n_unseen_group_rows:,} with unseen group levels, "
        f"{result.n_skipped_missing:,} skipped for missing predictors)"
    )
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
    synth.add_argument(
        "--scale",
        type=float,
        default=0.02,
        help="1 = the real sizes (49,849 buyers, 12.7M message rows); default 0.02",
    )
    synth.add_argument("--seed", type=int, default=42, help="random seed (default 42)")
    synth.add_argument("--out", default="data/raw", help="output folder (default data/raw)")
    synth.add_argument(
        "--format",
        choices=["csv", "parquet"],
        default="csv",
        help="file format (default csv, as the public dataset)",
    )
    synth.add_argument(
        "--no-ab-test",
        action="store_true",
        help="do not write campaign_assignments (A/B holdout campaigns)",
    )
    synth.add_argument("--quiet", action="store_true", help="no progress messages")
    synth.set_defaults(func=_cmd_synth)

    from targeting.warehouse import default_db

    fit = sub.add_parser(
        "fit",
        help="fit a model spec on the warehouse and save the run",
        description=(
            "Read the spec's training rows (labelled cutoffs before the latest), fit the Bambi "
            "formula, check convergence (max r_hat, min bulk ESS, divergences) and save the "
            "run (posterior, spec, schema, training rows) under runs/ ($MM_RUNS_DIR)."
        ),
    )
    fit.add_argument("--spec", required=True, help="spec file, e.g. python/specs/purchase_90d.yml")
    fit.add_argument(
        "--db",
        default=str(default_db()),
        help="warehouse file (default $MM_DUCKDB_PATH or data/warehouse.duckdb)",
    )
    fit.add_argument(
        "--method",
        choices=["nutpie", "pymc", "numpyro", "blackjax", "vi", "laplace"],
        help="override the spec's inference method",
    )
    fit.add_argument("--draws", type=int, help="override sampler.draws")
    fit.add_argument("--tune", type=int, help="override sampler.tune")
    fit.add_argument("--chains", type=int, help="override sampler.chains")
    fit.add_argument("--seed", type=int, help="override sampler.seed")
    fit.add_argument("--strict", action="store_true", help="exit 3 when diagnostics fail")
    fit.add_argument("--quiet", action="store_true", help="no progress output")
    fit.set_defaults(func=_cmd_fit)

    score = sub.add_parser(
        "score",
        help="score the latest cutoff with a saved run into ml.customer_scores",
        description=(
            "Load a saved run, predict the latest cutoff in chunks (memory bounded), and write "
            "ml.customer_scores and ml.model_runs in one transaction. Clients whose group level "
            "was unseen in training get the population-level prediction."
        ),
    )
    score.add_argument("--run", default="latest", help="run id, or latest (default)")
    score.add_argument("--db", default=str(default_db()), help="warehouse file")
    score.add_argument("--chunk-rows", type=int, default=5000, help="rows predicted at once (default 5000)")
    score.add_argument("--quiet", action="store_true", help="no progress output")
    score.set_defaults(func=_cmd_score)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    from targeting.runs import RunError
    from targeting.warehouse import WarehouseError

    try:
        return int(args.func(args))
    except (ValueError, FileNotFoundError, RunError, WarehouseError) as exc:
        print(f"targeting {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
