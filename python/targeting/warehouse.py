"""Reading the mart from DuckDB and writing the ``ml`` tables back, one transaction a run."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
import pandas as pd

from targeting.specs import ModelSpec

REPO = Path(__file__).resolve().parents[2]
ML_SCHEMA = "ml"

#: The tables the Python layer owns. dbt's on-run-start hook (macros/create_ml_tables.sql)
#: creates the same empty tables so `dbt build` works before the first fit; a test checks
#: both definitions agree.
ML_TABLES: dict[str, str] = {
    "model_runs": """
        run_id varchar primary key,
        spec_name varchar not null,
        spec_path varchar,
        spec_text varchar not null,
        formula varchar not null,
        family varchar not null,
        inference_method varchar not null,
        sampler varchar not null,
        relation varchar not null,
        train_as_of_min date,
        train_as_of_max date,
        scored_as_of date,
        n_train_rows bigint not null,
        n_train_positives bigint not null,
        n_scored bigint,
        n_unseen_group_rows bigint,
        max_r_hat double,
        min_ess_bulk double,
        divergences bigint,
        diagnostics_ok boolean not null,
        diagnostics_message varchar,
        status varchar not null,
        fit_seconds double,
        score_seconds double,
        fitted_at timestamp,
        scored_at timestamp
    """,
    "model_evaluations": """
        run_id varchar not null,
        split varchar not null,
        model varchar not null,
        metric varchar not null,
        value double,
        lower double,
        upper double,
        n_rows bigint not null,
        n_positives bigint not null,
        n_train_rows bigint not null,
        test_as_of date,
        note varchar,
        evaluated_at timestamp not null
    """,
    "customer_scores": """
        run_id varchar not null,
        client_id bigint not null,
        as_of_date date not null,
        p_mean double not null,
        p_sd double not null,
        p_q05 double not null,
        p_q95 double not null,
        rank bigint not null,
        decile integer not null,
        used_population_level boolean not null
    """,
}


class WarehouseError(RuntimeError):
    """The warehouse cannot be read or written as asked."""


def default_db() -> Path:
    """Return the warehouse file: ``$MM_DUCKDB_PATH`` or ``data/warehouse.duckdb``."""
    return Path(os.environ.get("MM_DUCKDB_PATH", "data/warehouse.duckdb"))


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


def resolve_relation(name: str, manifest: Path | None = None) -> str:
    """Turn a dbt model name into ``schema.table``; ``schema.table`` passes through.

    Parameters
    ----------
    name
        dbt model name (``customer_features``) or a qualified ``schema.table``.
    manifest
        dbt manifest; defaults to ``target/manifest.json`` in the repo.

    """
    if "." in name:
        return name
    path = manifest or REPO / "target" / "manifest.json"
    if not path.exists():
        raise WarehouseError(
            f"cannot resolve dbt model {name!r}: {path} not found (run `dbt build` or `dbt parse`)"
        )
    nodes = json.loads(path.read_text())["nodes"]
    for node in nodes.values():
        if node.get("resource_type") == "model" and node.get("name") == name:
            return f"{node['schema']}.{node.get('alias') or node['name']}"
    models = sorted(n["name"] for n in nodes.values() if n.get("resource_type") == "model")
    raise WarehouseError(f"dbt model {name!r} is not in {path}; models are: {', '.join(models)}")


def relation_columns(con: duckdb.DuckDBPyConnection, relation: str) -> dict[str, str]:
    """Column name to DuckDB type of a relation."""
    try:
        rows = con.execute(f"describe {relation}").fetchall()
    except duckdb.Error as exc:
        raise WarehouseError(f"relation {relation} cannot be read: {exc}") from exc
    return {r[0]: r[1] for r in rows}


def _base_query(spec: ModelSpec, relation: str, labels: str | None, columns: list[str]) -> str:
    cols = ", ".join(f"f.{c}" for c in dict.fromkeys([spec.id, spec.as_of, *columns]))
    if labels:
        label = f"l.{spec.label}"
        join = f"left join {labels} as l on l.{spec.id} = f.{spec.id} and l.{spec.as_of} = f.{spec.as_of}"
    else:
        label, join = f"f.{spec.label}", ""
    where = f"where ({spec.filter})" if spec.filter else "where true"
    return f"select {cols}, {label} as {spec.label} from {relation} as f {join} {where}"


def load_training_frame(
    con: duckdb.DuckDBPyConnection,
    spec: ModelSpec,
    relation: str,
    labels: str | None,
    columns: list[str],
) -> pd.DataFrame:
    """Labelled rows of cutoffs before the latest one (the latest is what gets scored)."""
    base = _base_query(spec, relation, labels, columns)
    latest = f"(select max({spec.as_of}) from {relation})"
    cut = ""
    if spec.train_cutoffs:
        cut = (
            f"and {spec.as_of} in (select distinct {spec.as_of} from base "
            f"where {spec.label} is not null and {spec.as_of} < {latest} "
            f"order by 1 desc limit {spec.train_cutoffs})"
        )
    limit = ""
    if spec.max_train_rows:
        limit = f"order by hash({spec.id}, {spec.as_of}, {spec.sampler.seed}) limit {spec.max_train_rows}"
    sql = (
        f"with base as ({base}) select * from base where {spec.label} is not null "
        f"and {spec.as_of} < {latest} {cut} {limit}"
    )
    frame = con.execute(sql).df()
    return frame.sort_values([spec.as_of, spec.id], kind="stable").reset_index(drop=True)


def load_labelled_at(
    con: duckdb.DuckDBPyConnection,
    spec: ModelSpec,
    relation: str,
    labels: str | None,
    columns: list[str],
    as_of: object,
) -> pd.DataFrame:
    """Labelled rows of one cutoff (e.g. the latest, labelled by the target file)."""
    base = _base_query(spec, relation, labels, columns)
    sql = f"with base as ({base}) select * from base where {spec.label} is not null and {spec.as_of} = ?"
    return con.execute(sql, [as_of]).df().sort_values(spec.id, kind="stable").reset_index(drop=True)


def count_scoring_rows(con: duckdb.DuckDBPyConnection, spec: ModelSpec, relation: str) -> tuple[int, object]:
    """Count the rows at the latest cutoff (after the spec's filter); return (count, cutoff)."""
    where = f"and ({spec.filter})" if spec.filter else ""
    latest = con.execute(f"select max({spec.as_of}) from {relation}").fetchone()[0]
    n = con.execute(f"select count(*) from {relation} where {spec.as_of} = ? {where}", [latest]).fetchone()[0]
    return int(n), latest


def iter_scoring_frames(
    con: duckdb.DuckDBPyConnection,
    spec: ModelSpec,
    relation: str,
    columns: list[str],
    as_of: object,
    chunk_rows: int,
) -> Iterator[pd.DataFrame]:
    """Rows of the latest cutoff in chunks of ``chunk_rows``, streamed in storage order.

    No ``order by``: sorting millions of rows would hold them all in memory, and every score
    depends on its own row only (ranks are computed after all chunks).
    """
    cols = ", ".join(dict.fromkeys([spec.id, spec.as_of, *columns]))
    where = f"and ({spec.filter})" if spec.filter else ""
    result = con.execute(f"select {cols} from {relation} where {spec.as_of} = ? {where}", [as_of])
    while True:
        chunk = result.fetch_df_chunk(max(1, chunk_rows // 2048))
        if chunk is None or len(chunk) == 0:
            return
        yield chunk


def ensure_ml_tables(con: duckdb.DuckDBPyConnection) -> None:
    """Create the ``ml`` schema and its tables if they do not exist."""
    con.execute(f"create schema if not exists {ML_SCHEMA}")
    for name, columns in ML_TABLES.items():
        con.execute(f"create table if not exists {ML_SCHEMA}.{name} ({columns})")


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


def replace_run_rows(db: Path, run_id: str, frames: dict[str, pd.DataFrame]) -> None:
    """Replace one run's rows in several ``ml`` tables atomically.

    Deletes the run's rows from each table and inserts the new frames in one transaction:
    readers see the previous state or the new one, never a half-written run; on any error
    the transaction is rolled back and the earlier rows stay as they were. A frame without a
    ``run_id`` column gets ``run_id`` as a constant (saves a string per row in memory).
    """
    with connect(db, read_only=False) as con:
        ensure_ml_tables(con)
        con.execute("begin transaction")
        try:
            for table, frame in frames.items():
                con.register(f"new_{table}", frame)
                cols = ", ".join(frame.columns)
                con.execute(f"delete from {ML_SCHEMA}.{table} where run_id = ?", [run_id])
                if "run_id" in frame.columns:
                    con.execute(f"insert into {ML_SCHEMA}.{table} ({cols}) select {cols} from new_{table}")
                else:
                    con.execute(
                        f"insert into {ML_SCHEMA}.{table} (run_id, {cols}) select ?, {cols} from new_{table}",
                        [run_id],
                    )
            _fault_pause()
            con.execute("commit")
        except Exception:
            con.execute("rollback")
            raise


def write_run(db: Path, run_row: dict[str, object], scores: pd.DataFrame) -> None:
    """Replace one run's rows in ``ml.model_runs`` and ``ml.customer_scores`` atomically."""
    replace_run_rows(
        db, str(run_row["run_id"]), {"model_runs": pd.DataFrame([run_row]), "customer_scores": scores}
    )


def write_evaluations(db: Path, run_id: str, table: pd.DataFrame) -> None:
    """Replace one run's rows in ``ml.model_evaluations`` atomically."""
    replace_run_rows(db, run_id, {"model_evaluations": table})
