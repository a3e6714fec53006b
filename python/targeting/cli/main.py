"""Command-line entry point: ``targeting <command> --help``."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

#: One thread per numerical call: samplers run one chain per core, and BLAS or XLA thread
#: pools inside each chain would fight over the same cores (measured: a 4-chain nutpie fit
#: on 2 cores took 328 s with default thread pools and 93 s with these). A value the user
#: sets wins.
SINGLE_THREADED = {
    "OPENBLAS_NUM_THREADS": "1",
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "XLA_FLAGS": "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1",
}


def _single_threaded_numerics() -> None:
    """Set the thread-pool variables before numpy, PyTensor or JAX are imported."""
    for key, value in SINGLE_THREADED.items():
        os.environ.setdefault(key, value)


def _cmd_synth(args: argparse.Namespace) -> int:
    from targeting.data.synth import SynthConfig, generate

    cfg = SynthConfig(
        scale=args.scale,
        seed=args.seed,
        out=Path(args.out),
        fmt=args.format,
        ab_test=not args.no_ab_test,
        ab_campaigns=args.ab_campaigns,
    )
    counts = generate(cfg, progress=not args.quiet)
    for name, rows in counts.items():
        print(f"{cfg.out / name}.{cfg.fmt}: {rows:,} rows")
    print(f"ground truth (for tests and evaluation only): {cfg.out / 'ground_truth'}")
    return 0


def _cmd_fit(args: argparse.Namespace) -> int:
    from targeting.core.specs import load_spec
    from targeting.models.fit import fit_spec

    spec = load_spec(args.spec).with_sampler(**_overrides(args))
    result = fit_spec(spec, Path(args.db), progress=not args.quiet)
    print(f"run {result.run_id} saved in {result.folder}")
    print(f"diagnostics: {result.diagnostics.message}")
    if not result.diagnostics.ok and args.strict:
        return 3
    return 0


def _cmd_score(args: argparse.Namespace) -> int:
    from targeting.models.score import score_run

    result = score_run(
        args.run,
        Path(args.db),
        chunk_rows=args.chunk_rows,
        progress=not args.quiet,
        draws=args.draws,
        engine=args.engine,
        allow_failed_diagnostics=args.allow_failed_diagnostics,
    )
    at = f"at {result.as_of}" if result.as_of is not None else "(every row)"
    print(
        f"scored {result.n_scored:,} clients {at} with run {result.run_id} "
        f"into ml.customer_scores ({result.n_unseen_group_rows:,} with unseen group levels, "
        f"{result.n_skipped_missing:,} skipped for missing predictors, unseen categories or non-finite terms)"
    )
    return 0


def _cmd_compile_sql(args: argparse.Namespace) -> int:
    from targeting.core import paths, warehouse
    from targeting.models import runs, sqlscore

    if args.out:
        paths.refuse_overwrite(Path(args.out), "--out", {"warehouse (--db)": Path(args.db)})
    saved = runs.load_run(args.run)
    try:
        program = sqlscore.compile_run(saved.model(), saved.posterior().posterior)
        sqlscore.check_design(program, saved.model())
    except sqlscore.Untranslatable as exc:
        raise runs.RunError(f"run {saved.run_id} cannot be compiled to SQL: {exc}") from exc
    spec, rec = saved.spec, saved.record
    with warehouse.connect(Path(args.db)) as con:
        src = warehouse.bind_spec(con, spec, [], rec.relation, rec.labels, where=f"run {saved.run_id}")
    sql = sqlscore.scoring_statement(
        program,
        src.relation.schema,
        src.relation.name,
        spec.key,
        spec.as_of,
        src.filter,
        args.dialect,
        imputation=saved.imputation,
        columns=rec.predictors,
        row_key=None if spec.id else list(src.relation.columns),
    )
    header = (
        f"-- run {saved.run_id} ({spec.name}) compiled for {args.dialect}: p_mean, p_sd and a 90% interval\n"
        f"-- per row of {src.relation.label} at its latest cutoff, from a normal approximation of\n"
        f"-- each row's linear predictor (targeting/sqlscore.py)\n"
    )
    if args.out:
        paths.write_text_atomic(Path(args.out), header + sql + "\n")
        print(f"wrote {args.out} ({len(sql):,} characters, {len(program.design)} design columns)")
    else:
        print(header + sql)
    return 0


def _cmd_evaluate(args: argparse.Namespace) -> int:
    import pandas as pd

    from targeting.models.evaluate import evaluate_run
    from targeting.models.metrics import summary_table

    result = evaluate_run(
        args.run,
        Path(args.db),
        holdout_share=args.holdout_share,
        n_boot=args.bootstrap,
        progress=not args.quiet,
        held_out_clients=not args.no_held_out,
        cv=args.cv,
        seed=args.seed,
        allow_failed_diagnostics=args.allow_failed_diagnostics,
    )
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(summary_table(result.table).to_string(index=False))
    if not args.no_report:
        from targeting.reports.model import report_for_run

        path = report_for_run(result)
        print(f"report: {path.resolve()}")
    return 0


def _cmd_compare(args: argparse.Namespace) -> int:
    import pandas as pd

    from targeting.core.specs import load_spec
    from targeting.models.compare import compare_specs

    specs = [load_spec(p).with_sampler(**_overrides(args)) for p in args.specs]
    result = compare_specs(
        specs, Path(args.db), progress=not args.quiet, allow_failed_diagnostics=args.allow_failed_diagnostics
    )
    cols = [
        c
        for c in (
            "rank",
            "spec",
            "elpd_loo",
            "se",
            "elpd_diff",
            "weight",
            "oot_roc_auc",
            "oot_roc_auc_90ci",
            "oot_log_loss",
            "oot_brier",
            "oot_ece",
            "diagnostics",
        )
        if c in result.table.columns
    ]
    with pd.option_context("display.width", 220, "display.max_columns", 20, "display.precision", 4):
        print(result.table[cols].to_string(index=False))
    print(f"table: {result.csv.resolve()}")
    return 0


def _cmd_validate(args: argparse.Namespace) -> int:
    from targeting.data import validate

    if args.what == "raw":
        outcomes, docs = validate.validate_raw(Path(args.raw), args.format, args.suffix)
    else:
        outcomes, docs = validate.validate_scores(Path(args.db), args.run)
    return 0 if validate.print_summary(outcomes, docs) else 1


def _cmd_export(args: argparse.Namespace) -> int:
    from targeting.data.export import export_marts

    for path, rows in export_marts(Path(args.db), Path(args.out) if args.out else None).items():
        print(f"{path}: {rows:,} rows")
    return 0


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
    if n_groups < 3:
        # two groups cannot inform the spread between groups: the pooled row is mostly its prior
        print(
            f"[lift] warning: {n_groups} group(s) of {args.group}; with fewer than 3 the pooled row and "
            "the spread between groups say mostly what their prior says: read the per-group rows",
            file=sys.stderr,
            flush=True,
        )
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


def _cmd_plan(args: argparse.Namespace) -> int:
    import pandas as pd

    from targeting.experiments import plan

    covariates = args.covariate or []
    if args.baseline is not None:
        given = {
            "--csv": args.csv,
            "--relation": args.relation,
            "--metric": args.metric,
            "--covariate": covariates,
            "--arm": args.arm,
        }
        base = plan.given_baseline(args.metric_kind, args.baseline, args.sd, given)
    else:
        if not args.metric:
            raise plan.PlanError("name the outcome column with --metric (or give --baseline)")
        csv = Path(args.csv) if args.csv else None
        if (args.arm is None) != (args.control is None):
            raise plan.PlanError("--arm and --control go together: the control arm's rows give the baseline")
        control = (args.arm, args.control) if args.arm is not None else None
        base = plan.read_baseline(
            args.metric, csv, args.relation, Path(args.db), covariates, args.keep_if, args.date, control
        )
        plan.check_kind(base, args.metric, args.metric_kind)
    base = plan.with_overrides(base, args.variance_reduction, args.daily_units, bool(covariates), args.date)
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
    bad = "NOT converged" in str(run["diagnostics"]) or "NOT converged" in str(
        run.get("eval_diagnostics", "")
    )
    if bad and not args.allow_failed_diagnostics:
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


def _cmd_uplift(args: argparse.Namespace) -> int:
    import dataclasses

    import pandas as pd

    from targeting.core.specs import parse_sampler
    from targeting.core.warehouse import write_uplift
    from targeting.models.runs import RunError
    from targeting.reports.experiments import write_uplift_report
    from targeting.uplift.model import run_uplift
    from targeting.uplift.spec import load_uplift_spec

    spec = load_uplift_spec(args.spec)
    overrides = _overrides(args)
    if overrides:
        spec = dataclasses.replace(
            spec, sampler=parse_sampler({**spec.sampler.__dict__, **overrides}, spec.path)
        )
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


def _cmd_segment(args: argparse.Namespace) -> int:
    import dataclasses

    import pandas as pd

    from targeting.core.warehouse import write_segments
    from targeting.reports.segments import write_segment_report
    from targeting.segments.kmeans import run_segment
    from targeting.segments.spec import load_segment_spec, parse_k

    spec = load_segment_spec(args.spec)
    if args.k is not None:
        spec = dataclasses.replace(spec, k=parse_k(args.k, "--k"))
    result = run_segment(spec, Path(args.db), progress=not args.quiet)
    table = result.sizes().set_index("cluster").join(result.top_features()).reset_index()
    with pd.option_context("display.width", 200, "display.max_colwidth", 80):
        print(table.to_string(index=False))
    run = result.run
    print(
        f"k={run['k']} ({run['k_method']}; best silhouette k={run['best_silhouette_k']}, "
        f"elbow k={run['elbow_k']}), silhouette {run['silhouette']:.3f}, {run['n_rows']:,} customers"
    )
    if args.no_write:
        return 0
    write_segments(Path(args.db), result.run_id, pd.DataFrame([run]), result.clusters, result.profiles)
    print(f"wrote run {result.run_id} to ml.segment_runs, ml.customer_clusters and ml.cluster_profiles")
    print(f"report: {write_segment_report(result)}")
    return 0


def _add_experiment_arguments(parser: argparse.ArgumentParser, csv_help: str, relation_help: str) -> None:
    """Add the options ``abtest`` and ``lift`` share: the source, arms, metrics and settings."""
    from targeting.core.settings import default_db

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
    parser.add_argument(
        "--db", default=str(default_db()), help="warehouse file (read for --relation, written)"
    )
    parser.add_argument("--no-write", action="store_true", help="print the results only")


def _experiment_config(args: argparse.Namespace, name: str, ratios: list[str] | None = None) -> Any:
    """Build and check the ``AbConfig`` of ``abtest`` or ``lift`` from their shared options."""
    from targeting.core.estimable import check_draws
    from targeting.experiments import abtest
    from targeting.experiments.sequential import DEFAULT_TAU

    cfg = abtest.AbConfig(
        experiment=name,
        arm=args.arm,
        control=args.control,
        metrics=args.metric or [],
        ratios=[abtest.parse_ratio(r) for r in ratios or []],
        planned=abtest.parse_planned(args.planned) if args.planned else None,
        alpha=args.alpha,
        draws=args.draws,
        seed=args.seed,
        covariates=args.covariate or [],
        sequential=getattr(args, "sequential", False),
        seq_tau=getattr(args, "sequential_tau", DEFAULT_TAU),
        looks_by=getattr(args, "looks_by", None),
        guardrails=getattr(args, "guardrail", None) or [],
        min_effects=dict(abtest.parse_min_effect(t) for t in getattr(args, "min_effect", None) or []),
        lower_is_better=getattr(args, "lower_is_better", None) or [],
    )
    if not cfg.metrics and not cfg.ratios:
        extra = " or --ratio NAME=NUM/DEN" if ratios is not None else " (a 0/1 conversion or an amount)"
        raise abtest.AbTestError(f"name at least one --metric COLUMN{extra}")
    if not 0 < cfg.alpha < 0.5:
        raise abtest.AbTestError(f"--alpha must be in (0, 0.5), got {cfg.alpha}")
    check_draws(cfg.draws)
    abtest.check_config(cfg)
    return cfg


def _positive_int(text: str) -> int:
    """Argparse type: a whole number >= 2 (a fold count, a cluster count)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 2, got {text!r}") from None
    if value < 2:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 2, got {value}")
    return value


def _seed(text: str) -> int:
    """Argparse type: a seed in [0, 2**32)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole-number seed, got {text!r}") from None
    if not 0 <= value < 2**32:
        raise argparse.ArgumentTypeError(f"a seed must be in [0, 2**32), got {value}")
    return value


def _add_sampler_overrides(parser: argparse.ArgumentParser) -> None:
    """Add the options that override a spec's sampler settings."""
    from targeting.core.specs import INFERENCE_METHODS, MASS_MATRICES, NUTPIE_BACKENDS, PRECISIONS

    parser.add_argument("--method", choices=INFERENCE_METHODS, help="override the spec's inference method")
    parser.add_argument("--draws", type=int, help="override sampler.draws")
    parser.add_argument("--tune", type=int, help="override sampler.tune")
    parser.add_argument("--chains", type=int, help="override sampler.chains")
    parser.add_argument("--seed", type=int, help="override sampler.seed")
    parser.add_argument("--target-accept", type=float, help="override sampler.target_accept")
    parser.add_argument("--backend", choices=NUTPIE_BACKENDS, help="override sampler.backend (nutpie)")
    parser.add_argument("--mass-matrix", choices=MASS_MATRICES, help="override sampler.mass_matrix (nutpie)")
    parser.add_argument(
        "--precision", choices=PRECISIONS, help="override sampler.precision (PyTensor floatX)"
    )


def _overrides(args: argparse.Namespace) -> dict[str, object]:
    """Return the sampler settings given on the command line (every Sampler field has an option)."""
    from targeting.core.specs import Sampler

    return {k: getattr(args, k) for k in Sampler.__dataclass_fields__ if getattr(args, k) is not None}


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
    synth.add_argument(
        "--ab-campaigns",
        type=int,
        help="holdout campaigns to write (default: 6 x sqrt(scale), at least 2)",
    )
    synth.add_argument("--quiet", action="store_true", help="no progress messages")
    synth.set_defaults(func=_cmd_synth)

    from targeting.core.settings import default_db

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
    _add_sampler_overrides(fit)
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
    score.add_argument(
        "--chunk-rows",
        type=int,
        default=None,
        help="rows predicted at once (default 20000 with the fast engine, 5000 with bambi)",
    )
    score.add_argument(
        "--draws",
        type=int,
        default=1000,
        help="posterior draws behind each mean and 90%% interval, evenly thinned (default 1000; 0 = all)",
    )
    score.add_argument(
        "--engine",
        choices=["fast", "bambi", "sql"],
        default="fast",
        help=(
            "fast: X @ draws per chunk (default); bambi: Bambi's Model.predict (slow reference); "
            "sql: the posterior compiled into one SQL statement the warehouse runs in one pass "
            "(normal approximation of each row's linear predictor from every draw; --draws and "
            "--chunk-rows do not apply; a term without a SQL translation is named)"
        ),
    )
    score.add_argument(
        "--allow-failed-diagnostics",
        action="store_true",
        help="score a run whose sampler failed its diagnostics (refused otherwise); the tables say so",
    )
    score.add_argument("--quiet", action="store_true", help="no progress output")
    score.set_defaults(func=_cmd_score)

    compile_sql = sub.add_parser(
        "compile-sql",
        help="print a saved run's posterior as one SQL statement (DuckDB or Spark) scoring its table",
        description=(
            "Compile a saved Bernoulli-logit run into SQL: each row's linear predictor gets a "
            "posterior mean and variance from the posterior's mean and covariance, then p_mean, "
            "p_sd (Gauss-Hermite quadrature) and a 90% interval. Translates linear terms, scale, "
            "center, log1p, log, exp, sqrt, abs, decay, clip, minimum, maximum, categorical "
            "columns and one (1|factor) group intercept; any other term is named and refused. "
            "`targeting score --engine sql` runs the same statement in the DuckDB warehouse."
        ),
    )
    compile_sql.add_argument("--run", default="latest", help="run id, or latest (default)")
    compile_sql.add_argument(
        "--db", default=str(default_db()), help="warehouse file (its catalog checks the table)"
    )
    compile_sql.add_argument("--dialect", choices=["duckdb", "spark"], default="duckdb", help="SQL dialect")
    compile_sql.add_argument("--out", help="write the statement to this file (default: print it)")
    compile_sql.set_defaults(func=_cmd_compile_sql)

    evaluate = sub.add_parser(
        "evaluate",
        help="out-of-time, held-out-client or cross-validated metrics against baselines, plus an HTML report",
        description=(
            "Evaluate a saved run out of time (specs with as_of: test = the latest labelled "
            "cutoff) and on held-out clients (a seeded hash share, refitted without them), or "
            "with --cv K by K-fold cross-validation by client (K refits; out-of-fold scores "
            "saved), next to logistic regression and gradient boosting trained on the same rows "
            "from every column of the spec's table except its id, label, as_of and exclude "
            "(text one-hot), and a recency/frequency rule where its columns exist. Metrics with "
            "90% bootstrap intervals go to ml.model_evaluations; the report to "
            "reports/<run_id>/report.html ($MM_REPORTS_DIR)."
        ),
    )
    evaluate.add_argument("--run", default="latest", help="run id, or latest (default)")
    evaluate.add_argument("--db", default=str(default_db()), help="warehouse file")
    evaluate.add_argument("--holdout-share", type=float, default=0.2, help="share of clients held out (0.2)")
    evaluate.add_argument("--bootstrap", type=int, default=200, help="bootstrap resamples (200)")
    evaluate.add_argument("--no-report", action="store_true", help="skip the HTML report")
    evaluate.add_argument(
        "--no-held-out", action="store_true", help="skip the held-out-clients split (it refits the model)"
    )
    evaluate.add_argument(
        "--cv",
        type=_positive_int,
        metavar="K",
        help="K-fold cross-validation by client instead of the held-out-clients split (K >= 2)",
    )
    evaluate.add_argument(
        "--seed",
        type=_seed,
        help="seed of the client hash behind held-out clients and folds (the run's seed)",
    )
    evaluate.add_argument(
        "--allow-failed-diagnostics",
        action="store_true",
        help="evaluate a run whose sampler failed its diagnostics (refused otherwise); the tables say so",
    )
    evaluate.add_argument("--quiet", action="store_true", help="no progress output")
    evaluate.set_defaults(func=_cmd_evaluate)

    compare = sub.add_parser(
        "compare",
        help="fit several specs and compare them by PSIS-LOO and out-of-time metrics",
        description=(
            "Fit each spec (saving a run each), compute PSIS-LOO with ArviZ (comparable only "
            "when the specs train on the same rows) and the out-of-time metrics of each, and "
            "print one table ranked by LOO (else by out-of-time log loss)."
        ),
    )
    compare.add_argument("specs", nargs="+", help="spec files")
    compare.add_argument("--db", default=str(default_db()), help="warehouse file")
    _add_sampler_overrides(compare)
    compare.add_argument(
        "--allow-failed-diagnostics",
        action="store_true",
        help="evaluate a fit that failed its diagnostics (refused otherwise); the tables say so",
    )
    compare.add_argument("--quiet", action="store_true")
    compare.set_defaults(func=_cmd_compare)

    val = sub.add_parser(
        "validate",
        help="Great Expectations checkpoints on the raw files (before dbt) or the scores (after scoring)",
        description=(
            "raw: schema, non-null keys, id/date/number formats, event and channel value sets, "
            "ranges of price, quantity and dates, row counts of the five raw files. scores: "
            "probabilities in [0, 1], one row per client, q05 <= mean <= q95. Prints a summary, "
            "writes Data Docs (gx/uncommitted/data_docs/local_site/index.html, $MM_GX_DIR) and "
            "exits 1 when an expectation fails."
        ),
    )
    val.add_argument("what", choices=["raw", "scores"])
    val.add_argument("--raw", default="data/raw", help="raw folder (raw)")
    val.add_argument("--format", choices=["csv", "parquet"], default="csv", help="raw file format (raw)")
    val.add_argument("--suffix", default="", help="file name suffix, e.g. _sample (raw)")
    val.add_argument("--db", default=str(default_db()), help="warehouse file (scores)")
    val.add_argument("--run", default="latest", help="run id (scores; default the latest scored)")
    val.set_defaults(func=_cmd_validate)

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
    pl.add_argument("--db", default=str(default_db()), help="warehouse file (read for --relation)")
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
    cv.add_argument("--db", default=str(default_db()), help="warehouse file (read and written)")
    cv.add_argument("--method", choices=["nutpie", "map"], help="override the spec's method")
    cv.add_argument("--no-evaluation", action="store_true", help="skip the spec's out-of-time evaluation")
    cv.add_argument(
        "--allow-failed-diagnostics", action="store_true", help="write a run whose fits did not converge"
    )
    cv.add_argument("--quiet", action="store_true", help="no progress lines")
    cv.set_defaults(func=_cmd_clv)

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
    up.add_argument("--db", default=str(default_db()), help="warehouse file (read and written)")
    up.add_argument("--no-write", action="store_true", help="print the evaluation only")
    up.add_argument(
        "--allow-failed-diagnostics",
        action="store_true",
        help="write a run whose fits failed their diagnostics (refused otherwise); the tables say so",
    )
    up.add_argument("--quiet", action="store_true", help="no sampler progress bars")
    _add_sampler_overrides(up)
    up.set_defaults(func=_cmd_uplift)

    seg = sub.add_parser(
        "segment",
        help="k-means customer segments on standardised behavioural features (k by silhouette, elbow shown)",
        description=(
            "Cluster the segmentation spec's rows (the latest cutoff when it has as_of) with k-means on "
            "standardised features (log1p where non-negative and right-skewed). --k auto picks the best "
            "silhouette in the spec's k_range on a seeded sample and reports the inertia elbow beside "
            "it. Writes ml.segment_runs, ml.customer_clusters and ml.cluster_profiles (staged by dbt "
            "into marts.segment_profiles) and reports/segments/<run>/report.html."
        ),
    )
    seg.add_argument("--spec", required=True, help="segmentation spec YAML (see python/specs/segments.yml)")
    seg.add_argument("--db", default=str(default_db()), help="warehouse file (read and written)")
    seg.add_argument("--k", help="auto or a whole number >= 2 (default: the spec's k)")
    seg.add_argument("--no-write", action="store_true", help="print the clusters only")
    seg.add_argument("--quiet", action="store_true", help="no progress output")
    seg.set_defaults(func=_cmd_segment)

    export = sub.add_parser(
        "export",
        help="write the BI-facing marts to Parquet (atomic replace) for BI tools",
        description=(
            "Copy targeting_list, customer_features, campaign_performance, channel_performance, "
            "campaign_economics, model_monitoring, ab_test_results, campaign_lift, customer_segments, "
            "customer_segment_transitions and segment_profiles to "
            "<out>/<table>.parquet. Each file is replaced atomically, "
            "so BI tools can read the exports at any time, even while dbt or targeting writes."
        ),
    )
    export.add_argument("--db", default=str(default_db()), help="warehouse file")
    export.add_argument("--out", help="folder (default $MM_EXPORTS_DIR or data/exports)")
    export.set_defaults(func=_cmd_export)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    _single_threaded_numerics()
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
