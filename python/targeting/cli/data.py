"""``synth``, ``validate``, ``export``, ``publish``, ``vocabulary``: raw data, BI serving, column lists.

Each command's options are declared beside it; the logic lives in ``targeting.data``.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from targeting.cli.common import (
    add_db,
    add_quiet,
)


def add_synth(sub: Any) -> None:
    """Add ``targeting synth`` and its options."""
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
    add_quiet(synth, "no progress messages")
    synth.set_defaults(func=_cmd_synth)


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


def add_validate(sub: Any) -> None:
    """Add ``targeting validate`` and its options."""
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
    add_db(val, "warehouse file (scores)")
    val.add_argument("--run", default="latest", help="run id (scores; default the latest scored)")
    val.set_defaults(func=_cmd_validate)


def _cmd_validate(args: argparse.Namespace) -> int:
    from targeting.data import validate

    if args.what == "raw":
        outcomes, docs = validate.validate_raw(Path(args.raw), args.format, args.suffix)
    else:
        outcomes, docs = validate.validate_scores(Path(args.db), args.run)
    return 0 if validate.print_summary(outcomes, docs) else 1


def add_export(sub: Any) -> None:
    """Add ``targeting export`` and its options."""
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
    add_db(export, "warehouse file")
    export.add_argument("--out", help="folder (default $MM_EXPORTS_DIR or data/exports)")
    export.set_defaults(func=_cmd_export)


def _cmd_export(args: argparse.Namespace) -> int:
    from targeting.data.export import export_marts

    for path, rows in export_marts(Path(args.db), Path(args.out) if args.out else None).items():
        print(f"{path}: {rows:,} rows")
    return 0


def add_publish(sub: Any) -> None:
    """Add ``targeting publish`` and its options."""
    publish = sub.add_parser(
        "publish",
        help="publish the BI-facing marts as a new serving version (BI tools never lock the warehouse)",
        description=(
            "Copy the BI-facing marts to Parquet in a new version folder under OUT/versions, with a "
            "DuckDB file of views over them, then point OUT/serving.duckdb at it (an atomic swap). "
            "BI tools connect to OUT/serving.duckdb read-only: builds and scoring never wait for "
            "them, and a new connection sees the newest complete version. Run it after dbt build "
            "and after each targeting command that writes."
        ),
    )
    add_db(publish, "warehouse file (opened read-only)")
    publish.add_argument("--out", help="serving folder (default $MM_SERVING_DIR or data/serving)")
    publish.add_argument(
        "--keep",
        type=int,
        default=3,
        help="versions to keep, the new one included (default 3): a connection older than that reconnects",
    )
    add_quiet(publish, "print only the serving file")
    publish.set_defaults(func=_cmd_publish)


def _cmd_publish(args: argparse.Namespace) -> int:
    from targeting.data.publish import publish

    done = publish(Path(args.db), Path(args.out) if args.out else None, keep=args.keep)
    if not args.quiet:
        for table, rows in done.rows.items():
            print(f"{table}: {rows:,} rows")
        if done.removed:
            print(f"removed {len(done.removed)} older version(s): {', '.join(done.removed)}")
        print(f"version {done.version}")
    print(f"BI tools connect to: {done.serving} (read-only)")
    return 0


def add_vocabulary(sub: Any) -> None:
    """Add ``targeting vocabulary sync`` and its options."""
    vocab = sub.add_parser(
        "vocabulary",
        help="write the column lists the domain vocabulary (dbt_project.yml) derives into the models' YAML",
        description=(
            "vars.vocabulary in dbt_project.yml defines the counted and flag message events, the "
            "channels and the windows; the SQL models loop over it, and `vocabulary sync` writes the "
            "columns it derives into the marked regions of the models' YAML (customer_features' "
            "contract, the column docs) and models/docs/vocabulary_columns.md. Run it after "
            "editing the vocabulary, then dbt build."
        ),
    )
    actions = vocab.add_subparsers(dest="action", metavar="ACTION", required=True)
    sync = actions.add_parser(
        "sync",
        help="rewrite the generated column lists (or, with --check, say which are out of date)",
        description="Rewrite the YAML regions and the docs file the vocabulary derives.",
    )
    sync.add_argument(
        "--check",
        action="store_true",
        help="write nothing; exit 1 when a file is out of date (for CI)",
    )
    sync.add_argument(
        "--project",
        default=None,
        help="the dbt project's folder (default: this repository)",
    )
    sync.set_defaults(func=_cmd_vocabulary_sync)


def _cmd_vocabulary_sync(args: argparse.Namespace) -> int:
    from targeting.core.settings import REPO
    from targeting.data.vocabulary import sync

    project = Path(args.project) if args.project else REPO
    if args.project and not project.is_dir():
        raise ValueError(f"--project {args.project}: no such folder (expected the dbt project's folder)")
    changed = sync(project, check=args.check)
    for path in changed:
        print(f"out of date: {path} (run `targeting vocabulary sync`)" if args.check else f"rewrote {path}")
    if not changed:
        print("every generated column list is up to date")
    return 1 if args.check and changed else 0


def register(sub: Any) -> None:
    """Add this module's commands to the ``targeting`` subparsers."""
    add_synth(sub)
    add_validate(sub)
    add_export(sub)
    add_publish(sub)
    add_vocabulary(sub)
