"""``uplift``: whom a campaign moves.

Each command's options are declared beside it; the logic lives in ``targeting.uplift``.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from targeting.cli.common import (
    add_allow_failed,
    add_db,
    add_no_write,
    add_quiet,
    add_sampler_overrides,
    overrides,
)


def add_uplift(sub: Any) -> None:
    """Add ``targeting uplift`` and its options."""
    up = sub.add_parser(
        "uplift",
        help="whom a campaign moves: uplift models on a randomised experiment table, Qini evaluation",
        description=(
            "Fit the uplift spec's models on half of the experiment's units (a Bambi model with arm x "
            "feature interactions under a shared hierarchical prior, and one model per arm), score every "
            "unit's uplift with a 90% interval and P(uplift > 0), and evaluate on the other half: Qini "
            "curve and AUC, uplift in the top 10/20/30%, against random and propensity targeting, with "
            "bootstrap intervals. Results go to ml.uplift_scores and ml.uplift_evaluations."
        ),
    )
    up.add_argument("--spec", required=True, help="uplift spec YAML (see python/specs/holdout_uplift.yml)")
    add_db(up, "warehouse file (read and written)")
    add_no_write(up, "print the evaluation only")
    add_allow_failed(
        up, "write a run whose fits failed their diagnostics (refused otherwise); the tables say so"
    )
    add_quiet(up, "no sampler progress bars")
    add_sampler_overrides(up)
    up.set_defaults(func=_cmd_uplift)


def _cmd_uplift(args: argparse.Namespace) -> int:

    import pandas as pd

    from targeting.core.warehouse import write_uplift
    from targeting.models.runs import RunError
    from targeting.reports.experiments import write_uplift_report
    from targeting.uplift.model import run_uplift
    from targeting.uplift.spec import load_uplift_spec

    spec = load_uplift_spec(args.spec).with_sampler(**overrides(args))
    result = run_uplift(spec, Path(args.db), progress=not args.quiet)
    ev = result.evaluations
    shown = ev[ev["metric"].isin(["qini_auc", "qini_auc_difference", "uplift_top_10pct"])]
    with pd.option_context("display.width", 200, "display.max_columns", 20, "display.precision", 4):
        print(shown[["model", "arm", "ranking", "metric", "value", "lower", "upper"]].to_string(index=False))
    print(f"fits: {result.diagnostics} ({result.seconds:.1f} s sampling)")
    if args.no_write:
        return 0
    if not result.diagnostics_ok and not args.allow_failed_diagnostics:
        raise RunError(
            f"uplift run {result.run_id} failed its diagnostics ({result.diagnostics}); nothing written: "
            "refit with more tune/draws or pass --allow-failed-diagnostics to write it anyway "
            "(ml.uplift_evaluations.diagnostics then says so)"
        )
    write_uplift(Path(args.db), result.run_id, result.scores, result.evaluations)
    print(
        f"wrote {len(result.scores):,} scores and {len(ev)} metrics for run {result.run_id} "
        f"to ml.uplift_scores and ml.uplift_evaluations in {args.db}"
    )
    print(f"report: {write_uplift_report(result.run_id, result.scores, ev)}")
    return 0


def register(sub: Any) -> None:
    """Add this module's commands to the ``targeting`` subparsers."""
    add_uplift(sub)
