"""``targeting score``: posterior purchase probabilities for the latest cutoff, in chunks."""

from __future__ import annotations

import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from targeting.core import modeling, warehouse
from targeting.core.linpred import (
    DEFAULT_SCORE_DRAWS,
    LinearPredictor,
    UnsupportedModel,
    common_design,
    nonfinite_rows,
    thin_posterior,
)
from targeting.core.predict import (
    add_counts,
    describe_unseen,
    predict_summary,
    unseen_categories,
    unseen_levels,
)
from targeting.core.sqlsafe import ident, one_row
from targeting.models import runs, sqlscore, stack
from targeting.models.runs import RunError, SavedRun

#: Scoring engines: ``fast`` (X @ B per chunk, linpred.py), ``bambi`` (Model.predict) and
#: ``sql`` (the posterior compiled into one SQL statement run by the warehouse, sqlscore.py).
ENGINES = ("fast", "bambi", "sql")
#: Default rows per chunk for each engine (memory is about rows x draws x 8 bytes x 3).
DEFAULT_CHUNK_ROWS = {"fast": 20000, "bambi": 5000, "sql": 0}

#: DuckDB types a pandas dtype of the training frame may come back as.
_COMPATIBLE = {
    "int64": ("BIGINT", "INTEGER", "HUGEINT", "SMALLINT", "TINYINT", "UBIGINT", "UINTEGER"),
    "Int64": ("BIGINT", "INTEGER", "HUGEINT", "SMALLINT", "TINYINT", "UBIGINT", "UINTEGER"),
    "float64": ("DOUBLE", "FLOAT", "DECIMAL", "BIGINT", "INTEGER"),
    "Float64": ("DOUBLE", "FLOAT", "DECIMAL", "BIGINT", "INTEGER"),
    "bool": ("BOOLEAN",),
    "boolean": ("BOOLEAN",),
    "object": ("VARCHAR",),
    "str": ("VARCHAR",),
    "string": ("VARCHAR",),
}


@dataclass
class ScoreResult:
    """What scoring wrote."""

    run_id: str
    n_scored: int
    n_unseen_group_rows: int
    n_skipped_missing: int
    unseen_categories: dict[str, dict[str, int]]
    as_of: date | None
    seconds: float


def check_schema(saved: SavedRun, available: dict[str, str], relation: str) -> None:
    """Fail, naming them, when the mart no longer has the run's columns with their types."""
    problems = []
    for col, dtype in saved.record.column_types.items():
        if col not in available:
            problems.append(f"column {col} is missing")
            continue
        ok = _COMPATIBLE.get(dtype)
        if ok and not available[col].upper().startswith(ok):
            problems.append(f"column {col} was {dtype} when fitted but is {available[col]} now")
    if problems:
        raise RunError(
            f"run {saved.run_id} does not match {relation}: {'; '.join(problems)}. "
            f"Refit the spec (`targeting fit --spec {saved.spec.path}`)."
        )


@dataclass
class Usable:
    """The rows of a chunk a run can score, imputed, with their design and why others cannot."""

    mask: np.ndarray  # over the chunk's rows
    rows: pd.DataFrame
    x: np.ndarray | None
    unseen: dict[str, dict[str, int]]
    nonfinite: dict[str, int]


def usable_rows(
    saved: SavedRun, component: Any, fixed_levels: dict[str, set[str]], chunk: pd.DataFrame
) -> Usable:
    """Apply the run's imputation, then keep the rows with every predictor, known categories and finite terms.

    The imputation comes first (the values learnt at fit time): only the columns whose rule is
    drop can still be missing.
    """
    chunk = saved.imputation.apply(chunk)
    new, unseen = unseen_categories(chunk, fixed_levels)
    keep = ~(chunk[saved.record.predictors].isna().any(axis=1).to_numpy() | new)
    rows = chunk[keep].reset_index(drop=True)
    x = common_design(component, rows) if len(rows) else None
    bad, counts = nonfinite_rows(component, x)
    if bad.any():
        rows, x = rows[~bad].reset_index(drop=True), x[~bad]  # type: ignore[index]
        keep[np.flatnonzero(keep)[bad]] = False
    return Usable(keep, rows, x, unseen, counts)


def add_chunk(
    pieces: dict[str, list[np.ndarray]], keys: pd.Series, summary: dict[str, np.ndarray], unseen: np.ndarray
) -> None:
    """Append one chunk's score columns (its keys as text) to ``pieces``."""
    ids = keys.astype(str).to_numpy(dtype=object)
    for name, values in {"client_id": ids, **summary, "used_population_level": unseen}.items():
        pieces.setdefault(name, []).append(values)


def report_progress(progress: bool, done: int, reported: int, total: int) -> int:
    """Print ``done/total`` rows every twentieth of the way (and at the end); return what was reported."""
    if progress and (done - reported >= total / 20 or done == total):
        print(f"[score] {done:,}/{total:,} rows", file=sys.stderr, flush=True)
        return done
    return reported


def ranked_scores(pieces: dict[str, list[np.ndarray]], as_of: date | None) -> pd.DataFrame:
    """Join the chunks' score columns; add the cutoff, the rank and the decile.

    The rank puts the highest ``p_mean`` first, ties by client id (text ids sort as text).
    """
    scores = pd.DataFrame({name: np.concatenate(parts) for name, parts in pieces.items()})
    order = scores.sort_values(["p_mean", "client_id"], ascending=[False, True], kind="stable").index
    rank = np.empty(len(scores), dtype=np.int64)
    rank[order.to_numpy()] = np.arange(1, len(scores) + 1)
    del order
    # one value for every row (pandas-stubs do not list NaT among insert's scalars)
    cutoff_value: Any = pd.Timestamp(as_of) if as_of is not None else pd.NaT
    scores.insert(1, "as_of_date", cutoff_value)
    scores["rank"] = rank
    scores["decile"] = (np.ceil(rank * 10 / len(scores))).astype(np.int32)
    return scores


def score_run(
    run: str,
    db: Path,
    chunk_rows: int | None = None,
    progress: bool = True,
    root: Path | None = None,
    draws: int | None = DEFAULT_SCORE_DRAWS,
    engine: str = "fast",
    allow_failed_diagnostics: bool = False,
) -> ScoreResult:
    """Score the latest cutoff with a saved run and write ``ml.*`` in one transaction.

    Parameters
    ----------
    run
        Run id or ``latest``.
    db
        Warehouse file: read, then written in one transaction.
    chunk_rows
        Rows predicted at once (default per engine, ``DEFAULT_CHUNK_ROWS``); memory is about
        chunk_rows x draws x 8 bytes x 3.
    progress
        Print progress.
    root
        Runs folder.
    draws
        Posterior draws behind each client's mean and interval, evenly thinned from all
        chains (``None`` or 0: every draw).
    engine
        ``fast`` (matrix product, the default), ``bambi`` (``Model.predict``; slower, kept
        as the reference the fast path is tested against) or ``sql`` (the posterior compiled
        into SQL and run inside the warehouse in one pass over the rows; a normal approximation of each
        row's linear predictor built from every draw, so ``draws`` and ``chunk_rows`` do not
        apply; a model that does not translate fails naming the term).
    allow_failed_diagnostics
        Score a run that failed its diagnostics (refused otherwise); its ``ml.model_runs``
        row then says ``scored_with_failed_diagnostics``.

    """
    if engine not in ENGINES:
        raise ValueError(f"scoring engine {engine!r} is not one of {ENGINES}")
    if draws is not None and draws < 0:
        raise ValueError(f"draws must be >= 0 (0 = all), got {draws}")
    chunk_rows = chunk_rows or DEFAULT_CHUNK_ROWS[engine]
    if stack.is_stack(run, root):
        if engine != "fast":
            raise ValueError(f"{run} is a stack: it is scored with the fast engine (draws of each member)")
        result: ScoreResult = stack.score_stack(
            run, db, chunk_rows, progress, root, draws, allow_failed_diagnostics
        )
        return result
    start = time.perf_counter()
    saved = runs.load_run(run, root)
    saved.require_diagnostics(allow_failed_diagnostics, "score")
    if engine == "sql":
        return _score_in_sql(saved, db, progress, start)
    spec, rec = saved.spec, saved.record
    relation = rec.relation
    predictors, factors = rec.predictors, rec.group_factors
    fixed_levels, levels = rec.level_sets()
    model = saved.model()
    idata = saved.posterior()
    idata.posterior = thin_posterior(idata.posterior, draws)
    fast = None
    if engine == "fast":
        try:
            fast = LinearPredictor(model, idata.posterior)
        except UnsupportedModel as exc:
            modeling.warn(f"fast scoring does not handle this model ({exc}); using Bambi's predict")
    # per-column lists of chunk arrays: one copy of the scores in memory until the write
    pieces: dict[str, list[np.ndarray]] = {}
    n_unseen = n_skipped = 0
    unseen_fixed: dict[str, dict[str, int]] = {}
    nonfinite: dict[str, int] = {}
    component = model.components[model.family.likelihood.parent]
    with warehouse.connect(db) as con:
        # the run's own check first: it names missing columns and changed types together
        src = warehouse.bind_spec(con, spec, [], relation, rec.labels, where=f"run {saved.run_id}")
        check_schema(saved, src.relation.columns, relation)
        total, as_of = warehouse.count_scoring_rows(con, src)
        if total == 0:
            raise RunError(f"no rows to score in {relation} at its latest cutoff with filter {spec.filter!r}")
        done = reported = 0
        for raw in warehouse.iter_scoring_frames(con, src, predictors, as_of, chunk_rows):
            usable = usable_rows(saved, component, fixed_levels, raw)
            add_counts(unseen_fixed, usable.unseen)
            add_term_counts(nonfinite, usable.nonfinite)
            n_skipped += len(raw) - int(usable.mask.sum())
            chunk, x = usable.rows, usable.x
            if fast is not None:
                summary, unseen = fast.summary(chunk, x), unseen_levels(chunk, factors, levels)
            else:
                summary, unseen = predict_summary(model, idata, chunk, factors, levels)
            n_unseen += int(unseen.sum())
            add_chunk(pieces, chunk[spec.key], summary, unseen)
            done += len(raw)
            reported = report_progress(progress, done, reported, total)
    if not pieces:
        raise RunError(
            f"no row of {relation} could be scored: every row has a missing predictor or a "
            f"category unseen in training ({describe_unseen(unseen_fixed) or 'none unseen'})"
        )
    scores = ranked_scores(pieces, as_of)
    del pieces
    seconds = time.perf_counter() - start
    run_row = _run_row(saved, as_of, len(scores), n_unseen, seconds)
    warehouse.write_run(db, run_row, scores)
    if progress:
        _report(saved.run_id, relation, as_of, len(scores), n_unseen, n_skipped, unseen_fixed, nonfinite)
    return ScoreResult(saved.run_id, len(scores), n_unseen, n_skipped, unseen_fixed, as_of, seconds)


def _run_row(
    saved: SavedRun, as_of: date | None, n_scored: int, n_unseen: int, seconds: float
) -> dict[str, Any]:
    """Return the run's ``ml.model_runs`` row."""
    spec, rec = saved.spec, saved.record
    diag = rec.diagnostics
    return {
        "run_id": saved.run_id,
        "spec_name": spec.name,
        "spec_path": spec.path,
        "spec_text": (saved.folder / "spec.yml").read_text(),
        "formula": spec.formula,
        "family": spec.family,
        "inference_method": spec.sampler.method,
        "sampler": str(rec.sampler),
        "relation": rec.relation,
        "train_as_of_min": cutoff_date(rec.train_as_of_min),
        "train_as_of_max": cutoff_date(rec.train_as_of_max),
        "scored_as_of": cutoff_date(as_of),
        "n_train_rows": rec.n_train_rows,
        "n_train_positives": rec.n_train_positives,
        "n_scored": n_scored,
        "n_unseen_group_rows": n_unseen,
        "max_r_hat": diag["max_r_hat"],
        "min_ess_bulk": diag["min_ess_bulk"],
        "divergences": diag["divergences"],
        "diagnostics_ok": diag["ok"],
        "diagnostics_message": diag["message"],
        "status": "scored" if diag["ok"] else "scored_with_failed_diagnostics",
        "fit_seconds": rec.fit_seconds,
        "score_seconds": seconds,
        "fitted_at": pd.Timestamp(rec.fitted_at).to_pydatetime(),
        "scored_at": datetime.now(UTC).replace(tzinfo=None, microsecond=0),
    }


def _report(
    run_id: str,
    relation: str,
    as_of: date | None,
    n_scored: int,
    n_unseen: int,
    n_skipped: int,
    unseen_fixed: dict[str, dict[str, int]],
    nonfinite: dict[str, int],
) -> None:
    """Say on standard error what scoring wrote and what it left out."""
    extra = (
        f"; {n_unseen:,} rows had an unseen group level and got the population-level score"
        if n_unseen
        else ""
    )
    skipped = (
        f"; {n_skipped:,} rows with a missing predictor, a category unseen in training or a non-finite term "
        "were not scored"
        if n_skipped
        else ""
    )
    if unseen_fixed:
        skipped += f" (unseen categories: {describe_unseen(unseen_fixed)})"
    if nonfinite:
        terms = ", ".join(f"{term}: {n:,} rows" for term, n in sorted(nonfinite.items()))
        skipped += f" (a term not a finite number, e.g. log of 0: {terms})"
    where = f"for {as_of}" if as_of is not None else f"for every row of {relation}"
    print(
        f"[score] wrote {n_scored:,} scores {where} as run {run_id}{extra}{skipped}",
        file=sys.stderr,
        flush=True,
    )


def _score_in_sql(saved: SavedRun, db: Path, progress: bool, start: float) -> ScoreResult:
    """Score the latest cutoff with the run's posterior compiled into SQL (``--engine sql``).

    The statement runs inside the warehouse; scores, ranks and deciles never leave it. The run
    row and the scores replace the run's earlier rows in one transaction.
    """
    spec, rec = saved.spec, saved.record
    program = compiled_program(saved, "scored in SQL")
    with warehouse.connect(db, read_only=False) as con:
        src = warehouse.bind_spec(con, spec, [], rec.relation, rec.labels, where=f"run {saved.run_id}")
        check_schema(saved, src.relation.columns, rec.relation)
        total, as_of = warehouse.count_scoring_rows(con, src)
        if total == 0:
            raise RunError(
                f"no rows to score in {rec.relation} at its latest cutoff with filter {spec.filter!r}"
            )
        named = {"latest": as_of} if src.as_of else {}
        rows = f"with population as ({src.population()}) select * from population where {src.at_cutoff()}"
        # the run's imputation, in SQL: the values learnt at fit time and the indicators
        rows = sqlscore.impute_source(rows, saved.imputation, spec.key, rec.predictors, "duckdb")
        if progress:
            print(f"[score] scoring {total:,} rows in the warehouse (SQL)", file=sys.stderr, flush=True)
        scored = program.select(f"select * from ({rows})", spec.key, "duckdb")
        con.execute(
            "create or replace temp table new_scores as select client_id, p_mean, p_sd, p_q05, p_q95, "
            "used_population_level, row_number() over (order by p_mean desc, client_id) as rank "
            f"from ({scored})",
            named,
        )
        n_scored, n_unseen = one_row(
            con, "select count(*), count(*) filter (where used_population_level) from new_scores"
        )
        unseen_fixed = _unseen_in_sql(con, rows, named, rec.fixed_levels)
        counted = program.nonfinite_counts(f"select * from ({rows})", "duckdb")
        nonfinite = {
            t: int(n) for t, n in zip(program.terms(), one_row(con, counted, named), strict=True) if n
        }
        if n_scored == 0:
            raise RunError(
                f"no row of {rec.relation} could be scored: every row has a missing predictor or a "
                f"category unseen in training ({describe_unseen(unseen_fixed) or 'none unseen'})"
            )
        seconds = time.perf_counter() - start
        run_row = _run_row(saved, as_of, n_scored, n_unseen, seconds)
        cutoff = pd.Timestamp(as_of).date() if as_of is not None else None
        warehouse.replace_run_rows_in(
            con,
            saved.run_id,
            {"model_runs": pd.DataFrame([run_row])},
            {
                "customer_scores": (
                    "select ? as run_id, client_id, cast(? as date) as as_of_date, p_mean, p_sd, p_q05, "
                    "p_q95, rank, cast(ceil(rank * 10.0 / ?) as integer) as decile, used_population_level "
                    "from new_scores",
                    [saved.run_id, cutoff, n_scored],
                )
            },
        )
    if progress:
        _report(
            saved.run_id, rec.relation, as_of, n_scored, n_unseen, total - n_scored, unseen_fixed, nonfinite
        )
    return ScoreResult(saved.run_id, n_scored, n_unseen, total - n_scored, unseen_fixed, as_of, seconds)


def _unseen_in_sql(
    con: Any, rows: str, named: Mapping[str, object], fixed_levels: dict[str, list[str]]
) -> dict[str, dict[str, int]]:
    """Count each categorical predictor's values that training never saw (not scored)."""
    out: dict[str, dict[str, int]] = {}
    for column, levels in fixed_levels.items():
        col = ident(column)
        found = con.execute(
            f"select cast({col} as varchar) as level, count(*) from ({rows}) "
            f"where {col} is not null and cast({col} as varchar) not in (select unnest($levels)) group by 1",
            {**named, "levels": [str(v) for v in levels]},
        ).fetchall()
        if found:
            out[column] = {str(level): int(n) for level, n in found}
    return out


def add_term_counts(total: dict[str, int], more: dict[str, int]) -> None:
    """Add per-term row counts into ``total``."""
    for term, n in more.items():
        total[term] = total.get(term, 0) + n


def cutoff_date(value: Any) -> date | None:
    """Return a cutoff as a date, ``None`` for a plain table's missing cutoff."""
    return None if value is None or pd.isna(value) else pd.Timestamp(value).date()


def compiled_program(saved: SavedRun, purpose: str) -> sqlscore.Program:
    """Compile a run's posterior to SQL and check it against Bambi's design (``RunError`` if not)."""
    try:
        program = sqlscore.compile_run(saved.model(), saved.posterior().posterior)
        sqlscore.check_design(program, saved.model())
    except sqlscore.Untranslatable as exc:
        raise RunError(f"run {saved.run_id} cannot be {purpose}: {exc}") from exc
    return program


@dataclass(frozen=True)
class CompiledSql:
    """A run's scoring statement for one dialect, with the header that says what it computes."""

    header: str
    sql: str
    n_design: int

    @property
    def text(self) -> str:
        """The header and the statement."""
        return self.header + self.sql


def compile_sql(run: str, db: Path, dialect: str) -> CompiledSql:
    """Return the statement scoring a saved run's table in ``dialect`` (``compile-sql``).

    The run's table is bound against the warehouse catalog as ``score --engine sql`` binds it.
    """
    saved = runs.load_run(run)
    program = compiled_program(saved, "compiled to SQL")
    spec, rec = saved.spec, saved.record
    with warehouse.connect(db) as con:
        src = warehouse.bind_spec(con, spec, [], rec.relation, rec.labels, where=f"run {saved.run_id}")
    sql = sqlscore.scoring_statement(
        program,
        src.relation.schema,
        src.relation.name,
        spec.key,
        spec.as_of,
        src.filter,
        dialect,
        imputation=saved.imputation,
        columns=rec.predictors,
        row_key=None if spec.id else list(src.relation.columns),
    )
    header = (
        f"-- run {saved.run_id} ({spec.name}) compiled for {dialect}: p_mean, p_sd and a 90% interval\n"
        f"-- per row of {src.relation.label} at its latest cutoff, from a normal approximation of\n"
        "-- each row's linear predictor (targeting/models/sqlscore.py)\n"
    )
    return CompiledSql(header, sql, len(program.design))
