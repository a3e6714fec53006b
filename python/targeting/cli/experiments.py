"""``abtest``, ``lift`` and ``plan``: experiments.

Each command's options are declared beside it; the logic lives in ``targeting.experiments``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from targeting.cli.common import (
    add_db,
    add_no_write,
)


def _add_experiment_arguments(parser: argparse.ArgumentParser, csv_help: str, relation_help: str) -> None:
    """Add the options ``abtest`` and ``lift`` share: the source, arms, metrics and settings."""
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--csv", help=csv_help)
    source.add_argument("--relation", help=relation_help)
    parser.add_argument("--arm", required=True, help="column holding each unit's arm")
    parser.add_argument("--control", required=True, help="the control arm's value")
    parser.add_argument(
        "--metric", action="append", help="outcome column (0/1 or an amount); repeat for more"
    )
    parser.add_argument(
        "--keep-if", help="boolean column: analyse only rows where it is true (e.g. window_complete)"
    )
    parser.add_argument(
        "--planned", help="planned shares, arm=share,... (default: equal); used by the SRM check"
    )
    parser.add_argument(
        "--arms", help="analyse these arms only, a,b,... (the control among them; default: every arm)"
    )
    parser.add_argument(
        "--covariate",
        action="append",
        help=(
            "numeric column measured before the assignment (e.g. last quarter's orders): adds the "
            "regression-adjusted (CUPED) difference and the variance reduction; repeat for more"
        ),
    )
    parser.add_argument(
        "--alpha", type=float, default=0.10, help="1 - interval level (default 0.10: 90%% intervals)"
    )
    parser.add_argument("--draws", type=int, default=20000, help="posterior draws (default 20000)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the posterior draws (default 1)")
    add_db(parser, "warehouse file (read for --relation, written)")
    add_no_write(parser, "print the results only")


def _experiment_config(args: argparse.Namespace, name: str, ratios: list[str] | None = None) -> Any:
    """Return the checked ``AbConfig`` of ``abtest`` (``ratios`` given) or ``lift`` from their options."""
    from targeting.experiments import abtest

    return abtest.config_from_options(
        name,
        args.arm,
        args.control,
        metrics=args.metric or [],
        ratios=ratios,
        planned=args.planned,
        alpha=args.alpha,
        draws=args.draws,
        seed=args.seed,
        covariates=args.covariate or [],
        sequential=getattr(args, "sequential", False),
        seq_tau=getattr(args, "sequential_tau", None),
        looks_by=getattr(args, "looks_by", None),
        guardrails=getattr(args, "guardrail", None) or [],
        min_effects=getattr(args, "min_effect", None) or [],
        lower_is_better=getattr(args, "lower_is_better", None) or [],
    )


def add_abtest(sub: Any) -> None:
    """Add ``targeting abtest`` and its options."""
    ab = sub.add_parser(
        "abtest",
        help="compare the arms of an experiment table: frequentist and Bayesian, ratio metrics, SRM check",
        description=(
            "Read an experiment table (a warehouse relation or a CSV file) with one row per unit, an "
            "arm column and outcome columns, and compare each arm with the control: two-proportion "
            "z-test or Welch t with intervals, Holm-corrected p-values, Beta-Binomial or reference "
            "posteriors with P(best) and expected loss, ratio metrics (delta method) and a "
            "sample-ratio-mismatch check. Results go to ml.ab_results (one transaction per experiment)."
        ),
    )
    ab.add_argument(
        "--experiment", required=True, help="name of the experiment (key of its rows in ml.ab_results)"
    )
    ab.add_argument(
        "--ratio", action="append", help="ratio metric name=numerator/denominator, e.g. roas=revenue/cost"
    )
    _add_experiment_arguments(
        ab, "experiment file (CSV with a header row)", "warehouse relation, schema.table"
    )
    ab.add_argument(
        "--sequential",
        action="store_true",
        help="add always-valid p-values and confidence sequences (mixture SPRT), valid at any look",
    )
    ab.add_argument(
        "--looks-by",
        help="column ordering the looks of --sequential (e.g. the assignment day); default: one look, now",
    )
    ab.add_argument(
        "--sequential-tau",
        type=float,
        default=0.05,
        help="mixture scale of --sequential, in standard deviations of the metric per unit (default 0.05)",
    )
    ab.add_argument(
        "--guardrail", action="append", help="metric that must not get worse (decision mart); repeat for more"
    )
    ab.add_argument(
        "--min-effect",
        action="append",
        help="metric=difference: the smallest effect worth shipping (decision mart; default 0)",
    )
    ab.add_argument(
        "--lower-is-better", action="append", help="metric where a decrease is good (a cost); repeat for more"
    )
    ab.set_defaults(func=_cmd_abtest)


def _cmd_abtest(args: argparse.Namespace) -> int:
    import pandas as pd

    from targeting.core.warehouse import write_ab_results
    from targeting.experiments import abtest

    cfg = _experiment_config(args, args.experiment, args.ratio or [])
    frame, label = abtest.read_experiment(
        cfg,
        Path(args.csv) if args.csv else None,
        args.relation,
        Path(args.db),
        keep_if=args.keep_if,
        arms=args.arms,
    )
    table = abtest.analyse(cfg, frame, label)
    abtest.warn_srm(table)
    cols = ["metric", "arm", "n_units", "value", "diff", "diff_se", "diff_lower", "diff_upper"]
    cols += ["p_value", "p_value_holm", "prob_best"]
    with pd.option_context("display.width", 220, "display.max_columns", 20, "display.precision", 4):
        print(table[cols].to_string(index=False))
        treated = table[~table["is_control"]]
        if cfg.covariates:
            print(f"regression-adjusted (CUPED) on {', '.join(cfg.covariates)}:")
            adj = ["metric", "arm", "adj_diff", "adj_diff_se", "adj_diff_lower", "adj_diff_upper"]
            adj += ["adj_p_value", "adj_p_value_holm", "variance_reduction"]
            print(treated[adj].to_string(index=False))
        if cfg.sequential:
            print("sequential (mixture SPRT, always valid under any number of looks):")
            seq = ["metric", "arm", "seq_looks", "seq_p_value", "seq_diff_lower", "seq_diff_upper", "seq_tau"]
            print(treated[seq].to_string(index=False))
    srm = "ok" if table["srm_ok"].iloc[0] else "MISMATCH"
    print(f"sample ratio check: p = {table['srm_p_value'].iloc[0]:.3g} ({srm})")
    if args.no_write:
        return 0
    write_ab_results(Path(args.db), cfg.experiment, table)
    print(f"wrote {len(table)} rows for experiment {cfg.experiment} to ml.ab_results in {args.db}")
    from targeting.reports.experiments import write_abtest_report

    print(f"report: {write_abtest_report(cfg.experiment, table)}")
    return 0


def add_lift(sub: Any) -> None:
    """Add ``targeting lift`` and its options."""
    lf = sub.add_parser(
        "lift",
        help="per-campaign lift from randomised holdouts, with partial pooling across campaigns",
        description=(
            "Read a table with one row per unit (a warehouse relation or a CSV file): a group column "
            "(campaign), an arm column with a control arm and outcome columns. Per metric, treatment "
            "arm and group: the difference with the control and its confidence interval (two-proportion "
            "z or Welch t, Holm-corrected), and the lift under a normal hierarchical model across groups "
            "(partial pooling, exact on a grid of the between-group spread) with a credible interval and "
            "P(lift > 0); plus the mean lift across groups. Results go to ml.campaign_lift."
        ),
    )
    lf.add_argument(
        "--analysis", required=True, help="name of the analysis (key of its rows in ml.campaign_lift)"
    )
    lf.add_argument("--group", required=True, help="column holding each unit's group (campaign, experiment)")
    _add_experiment_arguments(
        lf,
        "unit-level file (CSV with a header row)",
        "warehouse relation, e.g. marts.campaign_holdout_outcomes",
    )
    lf.set_defaults(func=_cmd_lift)


def _cmd_lift(args: argparse.Namespace) -> int:
    import pandas as pd

    from targeting.core.warehouse import write_lift_results
    from targeting.experiments import abtest, lift

    cfg = _experiment_config(args, args.analysis)
    frame, label = abtest.read_experiment(
        cfg,
        Path(args.csv) if args.csv else None,
        args.relation,
        Path(args.db),
        args.group,
        args.keep_if,
        args.arms,
    )
    n_groups = frame["group"].nunique()
    print(f"[lift] {len(frame):,} units in {n_groups:,} groups of {args.group}", file=sys.stderr, flush=True)
    warning = lift.few_groups_warning(n_groups, args.group)
    if warning:
        print(f"[lift] warning: {warning}", file=sys.stderr, flush=True)
    table = lift.analyse_lift(cfg, frame, label, args.group)
    lift.warn_srm(table)
    cols = ["metric", "arm", "group_value", "n_treated", "n_control", "diff", "diff_lower", "diff_upper"]
    cols += ["pooled_mean", "pooled_lower", "pooled_upper", "prob_positive"]
    with pd.option_context("display.width", 220, "display.max_columns", 20, "display.precision", 4):
        print(table[cols].to_string(index=False))
        if cfg.covariates:
            print(
                f"regression-adjusted (CUPED) on {', '.join(cfg.covariates)}; the pooling above uses these:"
            )
            adj = ["metric", "arm", "group_value", "adj_diff", "adj_diff_se", "adj_diff_lower"]
            adj += ["adj_diff_upper", "adj_p_value", "variance_reduction"]
            print(table[adj].to_string(index=False))
    if args.no_write:
        return 0
    write_lift_results(Path(args.db), cfg.experiment, table)
    print(f"wrote {len(table)} rows for analysis {cfg.experiment} to ml.campaign_lift in {args.db}")
    from targeting.reports.experiments import write_lift_report

    print(f"report: {write_lift_report(cfg.experiment, table)}")
    return 0


def add_plan(sub: Any) -> None:
    """Add ``targeting plan`` and its options."""
    pl = sub.add_parser(
        "plan",
        help="plan an experiment: units per arm, minimum detectable effect or duration, with CUPED",
        description=(
            "Answer one question for a rate or a mean: the units per arm needed to detect --mde, the "
            "smallest difference --n-per-arm units detect, or what --days at the units per day "
            "detect; each without and with the variance reduction of regression adjustment on "
            "pre-assignment covariates. The baseline is given (--baseline, --sd) or read from a "
            "relation or CSV (--metric, --covariate, --date). Two-sided tests at --alpha, "
            "Bonferroni-split over the treatment arms; the formulas are statsmodels' (Cohen's h "
            "for rates, the t-test for means)."
        ),
    )
    source = pl.add_mutually_exclusive_group()
    source.add_argument("--csv", help="unit-level file (CSV with a header row) to take the baseline from")
    source.add_argument("--relation", help="warehouse relation to take the baseline from, schema.table")
    pl.add_argument("--metric", help="outcome column of the data (0/1: a rate; else a mean)")
    pl.add_argument(
        "--covariate", action="append", help="pre-assignment column of the data, for the adjusted plan"
    )
    pl.add_argument("--keep-if", help="boolean column of the data: only rows where it is true")
    pl.add_argument("--arm", help="arm column of the data: with --control, the baseline is that arm's rows")
    pl.add_argument("--control", help="the control arm's value in --arm")
    pl.add_argument("--date", help="date column of the data: rows per distinct day give the units per day")
    add_db(pl, "warehouse file (read for --relation)")
    pl.add_argument("--baseline", type=float, help="the control's rate or mean, instead of data")
    pl.add_argument("--sd", type=float, help="standard deviation per unit of a mean given by --baseline")
    pl.add_argument(
        "--metric-kind", choices=["rate", "mean"], help="what --baseline is (checked against data)"
    )
    pl.add_argument(
        "--variance-reduction", type=float, help="share of variance covariates explain (r2), given"
    )
    question = pl.add_mutually_exclusive_group(required=True)
    question.add_argument("--mde", type=float, help="difference to detect (absolute; see --relative)")
    question.add_argument("--n-per-arm", type=int, help="control units available: the detectable difference")
    question.add_argument("--days", type=float, help="days the test runs: the detectable difference")
    pl.add_argument("--relative", action="store_true", help="--mde is a share of the baseline (0.05: +5%%)")
    pl.add_argument("--daily-units", type=float, help="units entering the test per day, over every arm")
    pl.add_argument("--alpha", type=float, default=0.10, help="two-sided significance level (default 0.10)")
    pl.add_argument("--power", type=float, default=0.80, help="power to reach (default 0.80)")
    pl.add_argument(
        "--ratio", type=float, default=1.0, help="units per treatment arm per control unit (default 1)"
    )
    pl.add_argument("--arms", type=int, default=2, help="arms, the control included (default 2)")
    pl.set_defaults(func=_cmd_plan)


def _cmd_plan(args: argparse.Namespace) -> int:
    import pandas as pd

    from targeting.experiments import plan

    base = plan.baseline_from_options(
        metric=args.metric,
        csv=Path(args.csv) if args.csv else None,
        relation=args.relation,
        db=Path(args.db),
        covariates=args.covariate or [],
        keep_if=args.keep_if,
        date=args.date,
        arm=args.arm,
        control=args.control,
        baseline=args.baseline,
        sd=args.sd,
        metric_kind=args.metric_kind,
        variance_reduction=args.variance_reduction,
        daily_units=args.daily_units,
    )
    req = plan.PlanRequest(
        mde=args.mde,
        relative=args.relative,
        n_per_arm=args.n_per_arm,
        days=args.days,
        alpha=args.alpha,
        power=args.power,
        ratio=args.ratio,
        arms=args.arms,
    )
    table = plan.plan(req, base)
    for line in plan.describe(req, base):
        print(line)
    with pd.option_context("display.width", 200, "display.max_columns", 20, "display.precision", 4):
        print(table.to_string(index=False))
    return 0


def register(sub: Any) -> None:
    """Add this module's commands to the ``targeting`` subparsers."""
    add_abtest(sub)
    add_lift(sub)
    add_plan(sub)
