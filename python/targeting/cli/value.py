"""``clv``: customer lifetime value.

Each command's options are declared beside it; the logic lives in ``targeting.value``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from targeting.cli.common import (
    add_allow_failed,
    add_db,
    add_quiet,
)


def add_clv(sub: Any) -> None:
    """Add ``targeting clv`` and its options."""
    cv = sub.add_parser(
        "clv",
        help="customer lifetime value: BG/NBD and Gamma-Gamma (pymc-marketing), with an out-of-time check",
        description=(
            "Fit pymc-marketing's BG/NBD (repeat purchases, dropout) and Gamma-Gamma (value per purchase) "
            "models on the CLV spec's summary table (frequency, recency, age, mean repeat value per "
            "customer) at its latest cutoff, with nutpie or MAP; per customer the expected purchases and "
            "value over the horizon with 90% intervals and P(alive). With an evaluation in the spec, "
            "the models are also fitted on the latest cutoff whose window is complete and compared with "
            "what the customers did, per decile and in total, against each customer's repeat rate so far. "
            "Results go to ml.clv_runs, ml.customer_clv and ml.clv_evaluations."
        ),
    )
    cv.add_argument("--spec", required=True, help="CLV spec (YAML), e.g. python/specs/clv.yml")
    add_db(cv, "warehouse file (read and written)")
    cv.add_argument("--method", choices=["nutpie", "map"], help="override the spec's method")
    cv.add_argument("--no-evaluation", action="store_true", help="skip the spec's out-of-time evaluation")
    add_allow_failed(cv, "write a run whose fits did not converge")
    add_quiet(cv, "no progress lines")
    cv.set_defaults(func=_cmd_clv)


def _cmd_clv(args: argparse.Namespace) -> int:
    import dataclasses

    import pandas as pd

    from targeting.core.warehouse import write_clv
    from targeting.reports.clv import write_clv_report
    from targeting.value.clv import run_clv
    from targeting.value.spec import load_clv_spec

    spec = load_clv_spec(args.spec)
    if args.method:
        spec = dataclasses.replace(spec, method=args.method)
    result = run_clv(spec, Path(args.db), evaluate_too=not args.no_evaluation, progress=not args.quiet)
    run = result.run
    print(f"{run['n_customers']:,} customers of {run['relation']}: {run['diagnostics']}")
    shown = ["expected_purchases", "p_alive", "expected_order_value", "clv"]
    with pd.option_context("display.width", 200, "display.precision", 4):
        print(result.customers[shown].describe().T[["mean", "25%", "50%", "75%", "max"]].to_string())
    if not result.evaluations.empty:
        print(
            f"out of time at {run['eval_as_of_date']}: "
            f"predicted {run['eval_predicted_purchases']:,.1f} purchases, "
            f"actual {run['eval_actual_purchases']:,.0f}; error per decile {run['eval_decile_error']:.4f} "
            f"(naive {run['eval_decile_error_naive']:.4f}); rank correlation {run['eval_spearman']:.3f}"
        )
    if not result.converged and not args.allow_failed_diagnostics:
        print(
            f"targeting clv: error: run {result.run_id} failed its diagnostics; nothing written: "
            "refit with more "
            "draws, or pass --allow-failed-diagnostics to write it anyway (ml.clv_runs.diagnostics says so)",
            file=sys.stderr,
        )
        return 2
    write_clv(Path(args.db), result.run_id, pd.DataFrame([run]), result.customers, result.evaluations)
    print(
        f"wrote run {result.run_id}: {len(result.customers):,} customers to ml.customer_clv, "
        f"{len(result.evaluations)} evaluation rows to ml.clv_evaluations in {args.db}"
    )
    print(f"report: {write_clv_report(result)}")
    return 0


def register(sub: Any) -> None:
    """Add this module's commands to the ``targeting`` subparsers."""
    add_clv(sub)
