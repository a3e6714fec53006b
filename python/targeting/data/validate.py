"""``targeting validate raw|scores``: Great Expectations checkpoints with Data Docs.

GX 1.x has no DuckDB datasource, so frames are read with DuckDB and validated through GX's
pandas datasource. Small files are validated whole. For the messages file (12.7M rows in the
real export) GX validates frames that DuckDB computes over the whole file (distinct events,
channels and dates; row count) plus a seeded sample of rows for the per-row format checks.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from targeting.core import layout
from targeting.core.paths import literal_pattern
from targeting.core.settings import REPO, gx_dir

MESSAGE_SAMPLE_ROWS = 200_000
SEEDS = REPO / "seeds"
ID19 = layout.full_match("id")
DATE = layout.full_match("date")
TIMESTAMP = layout.full_match("timestamp")
NUMBER = layout.full_match("number")
CATEGORY_IDS = layout.full_match("category_ids")
MESSAGE_ID = layout.full_match("message_id")


@dataclass
class Check:
    """One frame and the expectations it must meet."""

    name: str
    frame: pd.DataFrame
    expectations: list[Any]
    source: str


@dataclass
class Outcome:
    """The result of one check."""

    name: str
    source: str
    success: bool
    failures: list[str] = field(default_factory=list)
    evaluated: int = 0


def _read(con: duckdb.DuckDBPyConnection, sql: str, path: Path) -> pd.DataFrame:
    """Run ``sql``, which reads the file ``$path`` (a bound parameter, never pasted text).

    The path is taken literally: glob characters in it are escaped (:func:`literal_pattern`).
    """
    return con.execute(sql, {"path": literal_pattern(path)}).df()


def _raw_checks(raw: Path, fmt: str, suffix: str) -> list[Check]:
    import great_expectations.expectations as gxe

    con = duckdb.connect()
    earliest = datetime(int(layout.value_rules()["min_year"]), 1, 1)
    today = datetime.now()

    def reader(name: str) -> tuple[str, Path]:
        path = raw / f"{name}{suffix}.{fmt}"
        if not path.exists():
            raise FileNotFoundError(f"raw file {path} does not exist")
        if fmt == "parquet":
            return "(select columns(*)::varchar from read_parquet($path))", path
        return "read_csv($path, header=true, all_varchar=true, delim=',', quote='\"')", path

    def columns_exactly(cols: list[str]) -> Any:
        return gxe.ExpectTableColumnsToMatchOrderedList(column_list=cols)

    def numeric(frame: pd.DataFrame, cols: list[str]) -> pd.DataFrame:
        out = frame.copy()
        for c in cols:
            if c in out:
                out[f"{c}__number"] = pd.to_numeric(out[c], errors="coerce")
        return out

    checks: list[Check] = []
    src, path = reader(layout.PURCHASES)
    purchases = numeric(_read(con, f"select * from {src}", path), ["quantity", "price"])
    purchases["date__parsed"] = (
        pd.to_datetime(purchases["date"], format="%Y-%m-%d", errors="coerce") if "date" in purchases else None
    )
    checks.append(
        Check(
            "raw_purchases",
            purchases,
            [
                columns_exactly(
                    [*layout.PURCHASE_COLUMNS, "quantity__number", "price__number", "date__parsed"]
                ),
                gxe.ExpectTableRowCountToBeBetween(min_value=1),
                *[
                    gxe.ExpectColumnValuesToNotBeNull(column=c)
                    for c in ("client_id", "quantity", "price", "date", "message_id")
                ],
                gxe.ExpectColumnValuesToMatchRegex(column="client_id", regex=ID19),
                gxe.ExpectColumnValuesToMatchRegex(column="quantity", regex=r"^\d+$"),
                gxe.ExpectColumnValuesToMatchRegex(column="price", regex=NUMBER),
                gxe.ExpectColumnValuesToMatchRegex(column="date", regex=DATE),
                gxe.ExpectColumnValuesToMatchRegex(column="category_ids", regex=CATEGORY_IDS),
                gxe.ExpectColumnValuesToMatchRegex(column="message_id", regex=MESSAGE_ID),
                gxe.ExpectColumnValuesToBeBetween(column="quantity__number", min_value=1, max_value=1000),
                gxe.ExpectColumnValuesToBeBetween(column="price__number", min_value=0, max_value=10_000_000),
                gxe.ExpectColumnValuesToBeBetween(column="date__parsed", min_value=earliest, max_value=today),
            ],
            str(path),
        )
    )

    src, path = reader(layout.MESSAGES)
    sample = _read(
        con, f"select * from {src} using sample reservoir({MESSAGE_SAMPLE_ROWS} rows) repeatable (42)", path
    )
    checks.append(
        Check(
            "raw_messages_sample",
            sample,
            [
                columns_exactly(layout.MESSAGE_COLUMNS),
                *[gxe.ExpectColumnValuesToNotBeNull(column=c) for c in layout.MESSAGE_COLUMNS],
                gxe.ExpectColumnValuesToMatchRegex(column="client_id", regex=ID19),
                gxe.ExpectColumnValuesToMatchRegex(column="bulk_campaign_id", regex=r"^\d+$"),
                gxe.ExpectColumnValuesToMatchRegex(column="message_id", regex=MESSAGE_ID),
                gxe.ExpectColumnValuesToMatchRegex(column="created_at", regex=TIMESTAMP),
            ],
            f"{path} (seeded sample of {MESSAGE_SAMPLE_ROWS:,} rows)",
        )
    )
    if set(layout.MESSAGE_COLUMNS) <= set(sample.columns):
        values = _read(
            con,
            f"select distinct lower(trim(event)) as event, lower(trim(channel)) as channel from {src}",
            path,
        )
        events = _read(
            con,
            "select event from read_csv($path)",
            SEEDS / "event_taxonomy.csv",
        )
        channels = _read(
            con,
            "select channel from read_csv($path)",
            SEEDS / "channels.csv",
        )
        checks.append(
            Check(
                "raw_messages_values",
                values,
                [
                    gxe.ExpectColumnValuesToBeInSet(column="event", value_set=sorted(events["event"])),
                    gxe.ExpectColumnValuesToBeInSet(column="channel", value_set=sorted(channels["channel"])),
                ],
                f"{path} (every distinct event and channel)",
            )
        )
        dates = _read(
            con, f"select distinct date, try_strptime(date, '%Y-%m-%d') as date__parsed from {src}", path
        )
        counted = _read(con, f"select count(*) as n_rows from {src}", path)
        checks.append(
            Check(
                "raw_messages_dates",
                dates,
                [
                    gxe.ExpectColumnValuesToMatchRegex(column="date", regex=DATE),
                    gxe.ExpectColumnValuesToBeBetween(
                        column="date__parsed", min_value=earliest, max_value=today
                    ),
                ],
                f"{path} (every distinct date)",
            )
        )
        checks.append(
            Check(
                "raw_messages_rows",
                counted,
                [
                    gxe.ExpectColumnValuesToBeBetween(column="n_rows", min_value=1),
                ],
                f"{path} (row count)",
            )
        )

    src, path = reader(layout.TARGETS)
    targets = _read(con, f"select * from {src}", path)
    checks.append(
        Check(
            "raw_targets",
            targets,
            [
                columns_exactly(layout.TARGET_COLUMNS),
                gxe.ExpectTableRowCountToBeBetween(min_value=1),
                gxe.ExpectColumnValuesToNotBeNull(column="client_id"),
                gxe.ExpectColumnValuesToBeUnique(column="client_id"),
                gxe.ExpectColumnValuesToMatchRegex(column="client_id", regex=ID19),
                gxe.ExpectColumnValuesToBeInSet(column="target", value_set=["0", "1"]),
            ],
            str(path),
        )
    )

    for name, table in (
        (layout.CAMPAIGN_DAILY, "raw_campaign_daily"),
        (layout.CAMPAIGN_CHANNEL_DAILY, "raw_campaign_channel_daily"),
    ):
        src, path = reader(name)
        frame = _read(con, f"select * from {src}", path)
        counters = [c for c in frame.columns if c.startswith(("count_", "nunique_"))]
        frame = numeric(frame, counters)
        checks.append(
            Check(
                table,
                frame,
                [
                    gxe.ExpectTableRowCountToBeBetween(min_value=1),
                    gxe.ExpectTableColumnsToMatchSet(
                        column_set=["date", "bulk_campaign_id"], exact_match=False
                    ),
                    gxe.ExpectColumnValuesToMatchRegex(column="date", regex=DATE),
                    gxe.ExpectColumnValuesToMatchRegex(column="bulk_campaign_id", regex=r"^\d+$"),
                    *[
                        gxe.ExpectColumnValuesToBeBetween(column=f"{c}__number", min_value=0)
                        for c in counters
                    ],
                    *[gxe.ExpectColumnValuesToNotBeNull(column=f"{c}__number") for c in counters],
                ],
                str(path),
            )
        )
    con.close()
    return checks


def _score_checks(db: Path, run: str | None) -> list[Check]:
    import great_expectations.expectations as gxe

    from targeting.core.warehouse import connect

    with connect(db) as con:
        if run in (None, "latest"):
            row = con.execute(
                "select run_id from ml.model_runs order by scored_at desc, run_id limit 1"
            ).fetchone()
            if row is None:
                raise ValueError(
                    f"no scored run in {db} (ml.model_runs is empty): run `targeting score` first"
                )
            run = row[0]
        frame = con.execute("select * from ml.customer_scores where run_id = ?", [run]).df()
    return [
        Check(
            "scores",
            frame,
            [
                gxe.ExpectTableRowCountToBeBetween(min_value=1),
                gxe.ExpectColumnValuesToBeUnique(column="client_id"),
                *[
                    gxe.ExpectColumnValuesToNotBeNull(column=c)
                    for c in ("client_id", "p_mean", "p_sd", "p_q05", "p_q95")
                ],
                *[
                    gxe.ExpectColumnValuesToBeBetween(column=c, min_value=0, max_value=1)
                    for c in ("p_mean", "p_q05", "p_q95")
                ],
                gxe.ExpectColumnValuesToBeBetween(column="p_sd", min_value=0, max_value=0.5),
                gxe.ExpectColumnPairValuesAToBeGreaterThanB(
                    column_A="p_mean", column_B="p_q05", or_equal=True
                ),
                gxe.ExpectColumnPairValuesAToBeGreaterThanB(
                    column_A="p_q95", column_B="p_mean", or_equal=True
                ),
                gxe.ExpectColumnValuesToBeBetween(column="decile", min_value=1, max_value=10),
            ],
            f"{db}: ml.customer_scores, run {run}",
        )
    ]


def _describe_failure(result: Any) -> str:
    cfg = result.expectation_config
    kwargs = {k: v for k, v in cfg.kwargs.items() if k not in ("batch_id",)}
    column = kwargs.get("column") or kwargs.get("column_A") or ""
    detail = ""
    res = result.result or {}
    if "partial_unexpected_list" in res:
        shown = [str(v) for v in res["partial_unexpected_list"][:5]]
        detail = f"; {res.get('unexpected_count', '?')} unexpected, e.g. {shown}"
    elif "observed_value" in res:
        detail = f"; observed {res['observed_value']}"
    if result.exception_info and result.exception_info.get("raised_exception"):
        detail += f"; raised {result.exception_info.get('exception_message')}"
    what = cfg.type.replace("expect_", "").replace("_", " ")
    return f"column {column}: {what}{detail}" if column else f"{what}{detail}"


def run_checks(
    checks: list[Check], suite_prefix: str, root: Path | None = None
) -> tuple[list[Outcome], Path]:
    """Run each check as a GX checkpoint; build Data Docs; return outcomes and the docs index."""
    import great_expectations as gx
    from great_expectations.checkpoint import UpdateDataDocsAction

    root = root or gx_dir()
    root.mkdir(parents=True, exist_ok=True)
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="file", project_root_dir=str(root))
    context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
    source_name = f"{suite_prefix}_frames"
    try:
        datasource = context.data_sources.get(source_name)
    except (KeyError, ValueError):
        datasource = context.data_sources.add_pandas(name=source_name)
    outcomes = []
    for check in checks:
        try:
            asset = datasource.get_asset(check.name)
        except LookupError:
            asset = datasource.add_dataframe_asset(name=check.name)
        try:
            batch = asset.get_batch_definition("whole")
        except (KeyError, ValueError):
            batch = asset.add_batch_definition_whole_dataframe("whole")
        suite_name = f"{suite_prefix}__{check.name}"
        # suites are defined in code: replace the stored ones on every run
        suite = context.suites.add_or_update(
            gx.ExpectationSuite(name=suite_name, expectations=check.expectations)
        )
        vd = context.validation_definitions.add_or_update(
            gx.ValidationDefinition(name=f"{suite_name}__validation", data=batch, suite=suite)
        )
        checkpoint = context.checkpoints.add_or_update(
            gx.Checkpoint(
                name=f"{suite_name}__checkpoint",
                validation_definitions=[vd],
                actions=[UpdateDataDocsAction(name="docs")],
            )
        )
        result = checkpoint.run(batch_parameters={"dataframe": check.frame})
        run_results = list(result.run_results.values())[0]
        failures = [_describe_failure(r) for r in run_results.results if not r.success]
        outcomes.append(Outcome(check.name, check.source, result.success, failures, len(run_results.results)))
    docs = root / "uncommitted" / "data_docs" / "local_site" / "index.html"
    return outcomes, docs


def validate_raw(raw: Path, fmt: str = "csv", suffix: str = "") -> tuple[list[Outcome], Path]:
    """Validate the five raw files."""
    return run_checks(_raw_checks(raw, fmt, suffix), "raw")


def validate_scores(db: Path, run: str | None = None) -> tuple[list[Outcome], Path]:
    """Validate the scores of a run (default: the latest scored)."""
    return run_checks(_score_checks(db, run), "scores")


def print_summary(outcomes: list[Outcome], docs: Path) -> bool:
    """Print one line per check (and its failures); return overall success."""
    ok = all(o.success for o in outcomes)
    for o in outcomes:
        mark = "PASS" if o.success else "FAIL"
        print(f"{mark} {o.name}: {o.evaluated} expectations on {o.source}")
        for f in o.failures:
            print(f"     - {f}")
    print(f"{'all checks passed' if ok else 'validation FAILED'}; Data Docs: {docs.resolve()}")
    sys.stdout.flush()
    return ok
