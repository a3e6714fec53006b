"""Reading the mart from DuckDB and writing the ``ml`` tables back, one transaction a run."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import duckdb
import pandas as pd

from targeting.core.binding import Role, bind
from targeting.core.layout import source_tables
from targeting.core.settings import REPO, manifest_path
from targeting.core.specs import ModelSpec
from targeting.core.sqlsafe import (
    Relation,
    check_filter,
    ident,
    one_row,
    unit_source,
)

ML_SCHEMA = "ml"

#: The ml tables' one definition: the columns of the ``ml`` source in dbt's YAML, which dbt's
#: on-run-start hook (macros/create_ml_tables.sql) also creates the tables from.
ML_SOURCES_YAML = REPO / "models" / "staging" / "ml" / "_ml__sources.yml"
_CONSTRAINTS = {"": "", "not null": " not null", "primary key": " primary key"}
_TYPES = re.compile(r"[a-z]+(\([0-9, ]+\))?")


def _ml_columns() -> dict[str, list[tuple[str, str, str]]]:
    """``(name, type, constraint)`` of each ml table's columns, from ``ML_SOURCES_YAML``."""
    tables = {}
    for table in source_tables(ML_SOURCES_YAML, ML_SCHEMA).values():
        columns = []
        for col in table["columns"]:
            constraint = ((col.get("config") or {}).get("meta") or {}).get("constraint", "")
            if constraint not in _CONSTRAINTS or not _TYPES.fullmatch(col["data_type"]):
                raise ValueError(
                    f"{ML_SOURCES_YAML}: column {table['name']}.{col['name']} has a bad type or constraint"
                )
            columns.append((col["name"], col["data_type"], constraint))
        tables[table["name"]] = columns
    return tables


#: The ml tables' columns: table name to ``(name, type, constraint)``.
ML_COLUMNS: dict[str, list[tuple[str, str, str]]] = _ml_columns()
#: The tables the Python layer owns: table name to its column definitions.
ML_TABLES: dict[str, str] = {
    name: ", ".join(f"{ident(c)} {t}{_CONSTRAINTS[k]}" for c, t, k in columns)
    for name, columns in ML_COLUMNS.items()
}


class WarehouseError(RuntimeError):
    """The warehouse cannot be read or written as asked."""


@contextmanager
def connect(db: Path, read_only: bool = True) -> Iterator[duckdb.DuckDBPyConnection]:
    """Open the warehouse, turning a lock or a missing file into a clear error.

    Parameters
    ----------
    db
        DuckDB file.
    read_only
        Open read-only (any number of readers) or read-write (one writer).

    """
    if not db.exists():
        raise WarehouseError(f"warehouse {db} does not exist: run `dbt build` first")
    try:
        con = duckdb.connect(str(db), read_only=read_only)
    except duckdb.IOException as exc:
        if "lock" in str(exc).lower():
            raise WarehouseError(
                f"warehouse {db} is locked by another process (a running `dbt build`, "
                f"`targeting` command or an open read-write session); wait for it to finish. "
                f"DuckDB said: {exc}"
            ) from exc
        raise WarehouseError(f"cannot open warehouse {db}: {exc}") from exc
    try:
        yield con
    finally:
        con.close()


@dataclass(frozen=True)
class SpecSource:
    """A spec's relations and columns, checked against the catalog and quoted for SQL.

    Build it with :func:`bind_spec`; every query below is made from its quoted parts only.
    """

    spec: ModelSpec
    relation: Relation
    labels: Relation | None
    filter: str | None

    @property
    def id(self) -> str:
        """Quoted unit key column: the id, or the computed row key of a spec without one."""
        return ident(self.spec.key)

    @property
    def as_of(self) -> str | None:
        """Quoted cutoff column, ``None`` for a plain table."""
        return ident(self.spec.as_of) if self.spec.as_of else None

    @property
    def label(self) -> str:
        """Quoted label column."""
        return ident(self.spec.label)

    def population(self) -> str:
        """Return the ``population`` CTE body: the relation's rows that pass the spec's filter."""
        where = f"where ({self.filter})" if self.filter else ""
        source, _key = unit_source(self.relation, self.spec.id, self.spec.path)
        return f"select * from {source} {where}"

    def base(self, columns: list[str]) -> str:
        """Select the keys, ``columns`` and the label from the population (labels joined)."""
        keys = self.spec.keys
        cols = ", ".join(f"p.{ident(c)}" for c in dict.fromkeys([*keys, *columns]) if c != self.spec.label)
        if self.labels is not None:
            on = " and ".join(f"l.{ident(k)} = p.{ident(k)}" for k in keys)
            join = f"left join {self.labels.sql} as l on {on}"
            label = f"l.{self.label}"
        else:
            join, label = "", f"p.{self.label}"
        return (
            f"with population as ({self.population()}) "
            f"select {cols}, {label} as {self.label} from population as p {join}"
        )

    def at_cutoff(self) -> str:
        """Condition selecting the scoring cutoff (``$latest``); every row of a plain table."""
        return f"{self.as_of} = $latest" if self.as_of else "true"


def bind_spec(
    con: duckdb.DuckDBPyConnection,
    spec: ModelSpec,
    columns: list[str],
    relation: str | None = None,
    labels: str | None = None,
    where: str | None = None,
    numeric: list[str] | None = None,
) -> SpecSource:
    """Resolve a spec's relations in the catalog and check every column it names.

    Parameters
    ----------
    con
        Open warehouse connection.
    spec
        The model spec.
    columns
        Feature columns the caller will read (the formula's).
    numeric
        Those of ``columns`` that must be numeric (inside a transform such as ``scale()``).
    relation, labels
        Already-resolved ``schema.table`` names (a saved run's); default the spec's own.
    where
        Prefix of error messages (default the spec's path).

    Raises
    ------
    UnsafeSqlError
        When a relation does not exist, a column is not in it or has the wrong type (the id
        an integer or text, ``as_of`` a date, the label a number or boolean, a transformed
        predictor a number), or the filter is not one condition over the relation's columns.

    """
    where = where or spec.path or spec.name
    manifest = manifest_path()
    lab_name = labels if relation is not None else spec.labels
    keys = [Role(spec.id, "id", "key")] if spec.id else []
    if spec.as_of:
        keys.append(Role(spec.as_of, "as_of", "date"))
    numbers = set(numeric or [])
    label = Role(spec.label, "label", "number", "0/1 numbers or a boolean")
    predictors = [
        Role(c, "predictor", "number" if c in numbers else "any", "a number (it is inside a transform)", True)
        for c in columns
    ]
    # one binding step (targeting.core.binding): existence, types, and no predictor that the
    # relation's dbt YAML declares measured after the cutoff (an outcome, whatever its name)
    roles = [*keys, *predictors, *([] if lab_name else [label])]
    rel = bind(con, relation or spec.relation, roles, where, manifest, keyless=spec.id is None)
    lab = bind(con, lab_name, [*keys, label], where, manifest) if lab_name else None
    flt = check_filter(con, rel, spec.filter, where) if spec.filter else None
    return SpecSource(spec, rel, lab, flt)


def latest_cutoff(con: duckdb.DuckDBPyConnection, src: SpecSource) -> date | None:
    """Return the latest cutoff of the relation (the one that gets scored); ``None`` without one."""
    if src.as_of is None:
        return None
    latest: date | None = one_row(con, f"select max({src.as_of}) from {src.relation.sql}")[0]
    return latest


def load_training_frame(con: duckdb.DuckDBPyConnection, src: SpecSource, columns: list[str]) -> pd.DataFrame:
    """Labelled rows of cutoffs before the latest one (the latest is what gets scored).

    Without ``as_of`` (a plain table), every labelled row.
    """
    spec = src.spec
    named: dict[str, object] = {}
    cut = limit = before = ""
    if src.as_of is not None:
        named["latest"] = latest_cutoff(con, src)
        before = f"and {src.as_of} < $latest"
    if spec.train_cutoffs and src.as_of is not None:
        cut = (
            f"and {src.as_of} in (select distinct {src.as_of} from base "
            f"where {src.label} is not null and {src.as_of} < $latest order by 1 desc limit $cutoffs)"
        )
        named["cutoffs"] = spec.train_cutoffs
    if spec.max_train_rows:
        limit = f"order by hash({', '.join(ident(k) for k in src.spec.keys)}, $seed) limit $rows"
        named.update(seed=spec.sampler.seed, rows=spec.max_train_rows)
    sql = (
        f"with base as ({src.base(columns)}) select * from base "
        f"where {src.label} is not null {before} {cut} {limit}"
    )
    frame = con.execute(sql, named).df()
    return frame.sort_values(src.spec.keys[::-1], kind="stable").reset_index(drop=True)


def load_labelled_at(
    con: duckdb.DuckDBPyConnection, src: SpecSource, columns: list[str], as_of: object
) -> pd.DataFrame:
    """Labelled rows of one cutoff (e.g. the latest, labelled by the target file)."""
    sql = (
        f"with base as ({src.base(columns)}) select * from base "
        f"where {src.label} is not null and {src.as_of} = ?"
    )
    return con.execute(sql, [as_of]).df().sort_values(src.spec.key, kind="stable").reset_index(drop=True)


def count_scoring_rows(con: duckdb.DuckDBPyConnection, src: SpecSource) -> tuple[int, date | None]:
    """Count the rows to score (latest cutoff, or all rows of a plain table); return (count, cutoff)."""
    latest = latest_cutoff(con, src)
    named = {"latest": latest} if src.as_of else {}
    sql = f"with population as ({src.population()}) select count(*) from population where {src.at_cutoff()}"
    return int(one_row(con, sql, named)[0]), latest


def iter_scoring_frames(
    con: duckdb.DuckDBPyConnection, src: SpecSource, columns: list[str], as_of: date | None, chunk_rows: int
) -> Iterator[pd.DataFrame]:
    """Rows to score in chunks of ``chunk_rows``, streamed in storage order.

    No ``order by``: sorting millions of rows would hold them all in memory, and every score
    depends on its own row only (ranks are computed after all chunks).
    """
    cols = ", ".join(ident(c) for c in dict.fromkeys([*src.spec.keys, *columns]))
    named = {"latest": as_of} if src.as_of else {}
    sql = f"with population as ({src.population()}) select {cols} from population where {src.at_cutoff()}"
    result = con.execute(sql, named)
    while True:
        chunk = result.fetch_df_chunk(max(1, chunk_rows // 2048))
        if chunk is None or len(chunk) == 0:
            return
        yield chunk


def ensure_ml_tables(con: duckdb.DuckDBPyConnection) -> None:
    """Create the ``ml`` schema and its tables if they do not exist, and bring older ones up to date.

    A table written by an earlier version keeps its rows; a nullable column it lacks is added
    (null in its rows), a column whose declared type changed (``customer_scores.client_id``
    became text) is converted, and one that may now be null loses its ``not null``.
    """
    con.execute(f"create schema if not exists {ML_SCHEMA}")
    for name, columns in ML_TABLES.items():
        con.execute(f"create table if not exists {ML_SCHEMA}.{name} ({columns})")
    existing = {
        (t, c): (dtype, nullable)
        for t, c, dtype, nullable in con.execute(
            "select table_name, column_name, data_type, is_nullable from information_schema.columns "
            "where table_schema = ?",
            [ML_SCHEMA],
        ).fetchall()
    }
    for table, cols in ML_COLUMNS.items():
        for column, dtype, constraint in cols:
            have = existing.get((table, column))
            target = f"{ML_SCHEMA}.{ident(table)}"
            if have is None:
                if not constraint:
                    # a column added by a later version: older rows read it as null
                    con.execute(f"alter table {target} add column {ident(column)} {dtype}")
                continue
            if have[0].lower() != dtype.lower() and dtype.lower() == "varchar":
                con.execute(f"alter table {target} alter column {ident(column)} set data type varchar")
            if have[1] == "NO" and not constraint:
                con.execute(f"alter table {target} alter column {ident(column)} drop not null")


def _fault_pause() -> None:
    """Fault injection for the kill-mid-write test: pause inside an open transaction.

    With ``MM_FAULT_PAUSE_BEFORE_COMMIT=<seconds>`` set, a write says so on standard error
    and sleeps just before its commit, so a test can kill the process with the new rows
    written but not committed. Unset (always, outside that test), it does nothing.
    """
    seconds = os.environ.get("MM_FAULT_PAUSE_BEFORE_COMMIT")
    if seconds:
        import sys
        import time

        print("[write] paused before commit", file=sys.stderr, flush=True)
        time.sleep(float(seconds))


def replace_run_rows(db: Path, key_value: str, frames: dict[str, pd.DataFrame], key: str = "run_id") -> None:
    """Replace one run's rows in several ``ml`` tables atomically.

    Deletes the rows whose ``key`` column (``run_id``, or ``experiment`` for A/B results)
    equals ``key_value`` from each table and inserts the new frames in one transaction: readers
    see the previous state or the new one, never a half-written run; on any error the
    transaction is rolled back and the earlier rows stay as they were. A frame without the
    ``key`` column gets it as a constant (saves a string per row in memory).
    """
    with connect(db, read_only=False) as con:
        replace_run_rows_in(con, key_value, frames, {}, key)


def replace_run_rows_in(
    con: duckdb.DuckDBPyConnection,
    key_value: str,
    frames: dict[str, pd.DataFrame],
    selects: dict[str, tuple[str, list[object]]],
    key: str = "run_id",
) -> None:
    """:func:`replace_run_rows` on an open read-write connection.

    ``selects`` maps more tables to a ``select`` (and its bound values) whose named columns,
    ``key`` included, are inserted by name: rows computed in the warehouse never leave it.
    """
    ensure_ml_tables(con)
    con.execute("begin transaction")
    try:
        for table, (sql, params) in selects.items():
            con.execute(f"delete from {ML_SCHEMA}.{table} where {ident(key)} = ?", [key_value])
            con.execute(f"insert into {ML_SCHEMA}.{table} by name {sql}", params)
        for table, frame in frames.items():
            con.register(f"new_{table}", frame)
            cols = ", ".join(ident(c) for c in frame.columns)
            con.execute(f"delete from {ML_SCHEMA}.{table} where {ident(key)} = ?", [key_value])
            if key in frame.columns:
                con.execute(f"insert into {ML_SCHEMA}.{table} ({cols}) select {cols} from new_{table}")
            else:
                target = f"{ML_SCHEMA}.{table} ({ident(key)}, {cols})"
                con.execute(f"insert into {target} select ?, {cols} from new_{table}", [key_value])
        _fault_pause()
        con.execute("commit")
    except Exception:
        # a failed commit (a full disk) may already have ended the transaction: the error to
        # show is the original one, not "cannot rollback - no transaction is active"
        try:
            con.execute("rollback")
        except duckdb.Error:
            pass
        raise


def write_run(db: Path, run_row: dict[str, object], scores: pd.DataFrame) -> None:
    """Replace one run's rows in ``ml.model_runs`` and ``ml.customer_scores`` atomically."""
    replace_run_rows(
        db, str(run_row["run_id"]), {"model_runs": pd.DataFrame([run_row]), "customer_scores": scores}
    )


def write_evaluations(db: Path, run_id: str, table: pd.DataFrame) -> None:
    """Replace one run's rows in ``ml.model_evaluations`` atomically."""
    replace_run_rows(db, run_id, {"model_evaluations": table})


def write_ab_results(db: Path, experiment: str, table: pd.DataFrame) -> None:
    """Replace one experiment's rows in ``ml.ab_results`` atomically."""
    replace_run_rows(db, experiment, {"ab_results": table}, key="experiment")


def write_uplift(db: Path, run_id: str, scores: pd.DataFrame, evaluations: pd.DataFrame) -> None:
    """Replace one uplift run's rows in ``ml.uplift_scores`` and ``ml.uplift_evaluations`` atomically."""
    replace_run_rows(db, run_id, {"uplift_scores": scores, "uplift_evaluations": evaluations})


def write_lift_results(db: Path, analysis: str, table: pd.DataFrame) -> None:
    """Replace one analysis's rows in ``ml.campaign_lift`` atomically."""
    replace_run_rows(db, analysis, {"campaign_lift": table}, key="analysis")


def write_segments(
    db: Path, run_id: str, run: pd.DataFrame, clusters: pd.DataFrame, profiles: pd.DataFrame
) -> None:
    """Replace one segmentation run's rows in the ``ml`` segment tables atomically.

    The tables are ``segment_runs``, ``customer_clusters`` and ``cluster_profiles``.
    """
    replace_run_rows(
        db, run_id, {"segment_runs": run, "customer_clusters": clusters, "cluster_profiles": profiles}
    )


def write_clv(
    db: Path, run_id: str, run: pd.DataFrame, customers: pd.DataFrame, evaluations: pd.DataFrame
) -> None:
    """Replace one CLV run's rows in ``ml.clv_runs``, ``ml.customer_clv`` and ``ml.clv_evaluations``.

    ``evaluations`` may have no rows (a spec without an evaluation): the run's earlier
    evaluation rows are removed with the rest, in the same transaction.
    """
    replace_run_rows(db, run_id, {"clv_runs": run, "customer_clv": customers, "clv_evaluations": evaluations})
