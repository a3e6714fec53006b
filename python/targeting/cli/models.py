"""``fit``, ``score``, ``compile-sql``, ``evaluate`` and ``compare``: propensity models.

Each command's options are declared beside it; the logic lives in ``targeting.models``.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from targeting.cli.common import (
    add_allow_failed,
    add_db,
    add_quiet,
    add_sampler_overrides,
    overrides,
    positive_int,
    seed,
)


def add_fit(sub: Any) -> None:
    """Add ``targeting fit`` and its options."""
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
    add_db(fit, "warehouse file ($MM_DUCKDB_PATH sets the default)")
    add_sampler_overrides(fit)
    fit.add_argument("--strict", action="store_true", help="exit 3 when diagnostics fail")
    add_quiet(fit, "no progress output")
    fit.set_defaults(func=_cmd_fit)


def _cmd_fit(args: argparse.Namespace) -> int:
    from targeting.core.specs import load_spec
    from targeting.models.fit import fit_spec

    spec = load_spec(args.spec).with_sampler(**overrides(args))
    result = fit_spec(spec, Path(args.db), progress=not args.quiet)
    print(f"run {result.run_id} saved in {result.folder}")
    print(f"diagnostics: {result.diagnostics.message}")
    if not result.diagnostics.ok and args.strict:
        return 3
    return 0


def add_score(sub: Any) -> None:
    """Add ``targeting score`` and its options."""
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
    add_db(score, "warehouse file")
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
    add_allow_failed(
        score, "score a run whose sampler failed its diagnostics (refused otherwise); the tables say so"
    )
    add_quiet(score, "no progress output")
    score.set_defaults(func=_cmd_score)


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


def add_compile_sql(sub: Any) -> None:
    """Add ``targeting compile-sql`` and its options."""
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
    add_db(compile_sql, "warehouse file (its catalog checks the table)")
    compile_sql.add_argument("--dialect", choices=["duckdb", "spark"], default="duckdb", help="SQL dialect")
    compile_sql.add_argument("--out", help="write the statement to this file (default: print it)")
    compile_sql.set_defaults(func=_cmd_compile_sql)


def _cmd_compile_sql(args: argparse.Namespace) -> int:
    from targeting.core import paths
    from targeting.models.score import compile_sql

    if args.out:
        paths.refuse_overwrite(Path(args.out), "--out", {"warehouse (--db)": Path(args.db)})
    compiled = compile_sql(args.run, Path(args.db), args.dialect)
    if args.out:
        paths.write_text_atomic(Path(args.out), compiled.text + "\n")
        print(f"wrote {args.out} ({len(compiled.sql):,} characters, {compiled.n_design} design columns)")
    else:
        print(compiled.text)
    return 0


def add_evaluate(sub: Any) -> None:
    """Add ``targeting evaluate`` and its options."""
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
    add_db(evaluate, "warehouse file")
    evaluate.add_argument("--holdout-share", type=float, default=0.2, help="share of clients held out (0.2)")
    evaluate.add_argument("--bootstrap", type=int, default=200, help="bootstrap resamples (200)")
    evaluate.add_argument("--no-report", action="store_true", help="skip the HTML report")
    evaluate.add_argument(
        "--no-held-out", action="store_true", help="skip the held-out-clients split (it refits the model)"
    )
    evaluate.add_argument(
        "--cv",
        type=positive_int,
        metavar="K",
        help="K-fold cross-validation by client instead of the held-out-clients split (K >= 2)",
    )
    evaluate.add_argument(
        "--seed",
        type=seed,
        help="seed of the client hash behind held-out clients and folds (the run's seed)",
    )
    add_allow_failed(
        evaluate, "evaluate a run whose sampler failed its diagnostics (refused otherwise); the tables say so"
    )
    add_quiet(evaluate, "no progress output")
    evaluate.set_defaults(func=_cmd_evaluate)


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


def add_compare(sub: Any) -> None:
    """Add ``targeting compare`` and its options."""
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
    add_db(compare, "warehouse file")
    add_sampler_overrides(compare)
    add_allow_failed(
        compare, "evaluate a fit that failed its diagnostics (refused otherwise); the tables say so"
    )
    compare.add_argument(
        "--stack",
        action="store_true",
        help=(
            "save the specs' LOO stacking weights as a stack (needs specs fitted on the same rows); "
            "`targeting score --run STACK_ID` scores the mixture"
        ),
    )
    add_quiet(compare)
    compare.set_defaults(func=_cmd_compare)


def _cmd_compare(args: argparse.Namespace) -> int:
    import pandas as pd

    from targeting.core.specs import load_spec
    from targeting.models.compare import compare_specs

    specs = [load_spec(p).with_sampler(**overrides(args)) for p in args.specs]
    result = compare_specs(
        specs,
        Path(args.db),
        progress=not args.quiet,
        allow_failed_diagnostics=args.allow_failed_diagnostics,
        stack=args.stack,
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
    if result.stack is not None:
        parts = " + ".join(f"{w:.3f} x {run}" for run, w in result.stack.members)
        stack_id = result.stack.stack_id
        print(f"stack {stack_id} saved: {parts}; score it with `targeting score --run {stack_id}`")
    return 0


def add_spec(sub: Any) -> None:
    """Add ``targeting spec init`` and its options."""
    spec = sub.add_parser(
        "spec",
        help="write a starting spec from a relation's columns (spec init)",
        description="Spec files: `targeting spec init` writes a starting spec an analyst then edits.",
    )
    actions = spec.add_subparsers(dest="action", required=True, metavar="ACTION")
    init = actions.add_parser(
        "init",
        help="profile a relation and write a starting spec",
        description=(
            "Profile every column of RELATION but the roles (one query: type, distinct values, "
            "missing values, range, skewness) and write a spec that fits it: splines for "
            "continuous numbers (log1p when skewed), other numbers and flags standardised in one "
            "term under a shared shrinkage prior, text as categories (a varying intercept when "
            "there are many levels), missing values imputed with an indicator; identifiers, "
            "dates, constants and declared outcomes are left out, each with the reason in the "
            "file's header. The spec is checked by loading it before it is written."
        ),
    )
    init.add_argument("relation", help="dbt model name or schema.table")
    init.add_argument("--label", required=True, help="the 0/1 outcome column")
    init.add_argument("--id", help="the unit's key column (default: none; rows keyed by content)")
    init.add_argument("--as-of", help="the cutoff column (a date), for a table of snapshots")
    init.add_argument("--filter", help="SQL condition selecting the population (one condition)")
    init.add_argument("--exclude", nargs="+", default=[], metavar="COLUMN", help="columns to leave out")
    init.add_argument("--name", help="the spec's name (default: from the relation's name)")
    init.add_argument("--out", required=True, help="the spec file to write")
    init.add_argument("--force", action="store_true", help="replace --out if it exists")
    add_db(init, "warehouse file")
    init.set_defaults(func=_cmd_spec_init)


def _cmd_spec_init(args: argparse.Namespace) -> int:
    from targeting.core.settings import manifest_path
    from targeting.core.sqlsafe import check_name
    from targeting.models.specinit import InitRequest, init_spec

    if args.name is not None:
        check_name(args.name, "--name", "spec init")
    request = InitRequest(
        relation=args.relation,
        label=args.label,
        out=Path(args.out),
        db=Path(args.db),
        id=args.id,
        as_of=args.as_of,
        filter=args.filter,
        exclude=tuple(args.exclude),
        name=args.name,
        force=args.force,
        manifest=manifest_path(),
    )
    out, draft = init_spec(request)
    print(f"wrote {out}: {draft.formula(args.label)}")
    if draft.skipped:
        print(f"left out {len(draft.skipped)} column(s); the file's header says why")
    return 0


def register(sub: Any) -> None:
    """Add this module's commands to the ``targeting`` subparsers."""
    add_spec(sub)
    add_fit(sub)
    add_score(sub)
    add_compile_sql(sub)
    add_evaluate(sub)
    add_compare(sub)
