"""``targeting publish``: a serving DuckDB file for BI tools that builds and scoring never lock.

A BI tool holding a connection to the warehouse makes ``dbt run`` fail ("Could not set lock on
file"), and a reader opening during a build fails the same way. ``publish`` copies the
BI-facing marts out of the warehouse into a new version folder and points the serving file
at it::

    <out>/serving.duckdb -> versions/<id>/serving.duckdb     (a symbolic link, swapped atomically)
    <out>/versions/<id>/<mart>.parquet
    <out>/versions/<id>/serving.duckdb                       (views marts.<mart> over those files,
                                                              and marts._publication)

A version is complete before the link points at it, and its files never change, so a reader
sees one whole version: every query of a connection reads the version it opened, and a new
connection (Superset opens one per query) reads the newest. Builds and scoring write the
warehouse, never these files, and the publisher writes only a version no reader has opened,
so neither side waits for the other. The newest ``keep`` versions are kept (a connection
older than ``keep`` publications should reconnect); a failed publication removes its own
folder and leaves the link where it was.
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import duckdb

from targeting.core.settings import serving_dir
from targeting.core.sqlsafe import UnsafeSqlError, ident, literal, one_row, resolve
from targeting.core.warehouse import WarehouseError, connect
from targeting.data.export import BI_TABLES, ExportError, prepare_folder

SERVING_FILE = "serving.duckdb"
VERSIONS = "versions"
PUBLICATION = "_publication"
KEEP_VERSIONS = 3


@dataclass(frozen=True)
class Publication:
    """One published version.

    Attributes
    ----------
    version : str
        The version's folder name under ``<out>/versions``.
    serving : Path
        The serving file BI tools connect to (the link).
    rows : dict
        Rows per published table (``schema.table``).
    removed : list
        Older version folders removed (beyond ``keep``).

    """

    version: str
    serving: Path
    rows: dict[str, int]
    removed: list[str]


def _new_version(versions: Path) -> Path:
    """Create and return an empty, uniquely named version folder (UTC time, then a counter)."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    for n in range(1000):
        path = versions / f"{stamp}-{n:03d}"
        try:
            path.mkdir(parents=True)
            return path
        except FileExistsError:
            continue
    raise ExportError(f"cannot create a new version folder under {versions}: 1,000 exist for {stamp}")


def _write_version(db: Path, folder: Path, tables: tuple[str, ...], version: str) -> dict[str, int]:
    """Copy ``tables`` to Parquet in ``folder`` and write its serving file; return rows per table."""
    rows: dict[str, int] = {}
    with connect(db) as con:
        for table in tables:
            schema, name = table.split(".")
            relation = f"{ident(schema)}.{ident(name)}"
            try:
                resolve(con, table)  # the catalog check every command's relation goes through
            except UnsafeSqlError as exc:
                raise WarehouseError(f"warehouse {db} has no table {table}: run `dbt build` first") from exc
            target = folder / f"{name}.parquet"
            con.execute(
                f"copy (select * from {relation}) to ? (format parquet, compression zstd)", [str(target)]
            )
            rows[table] = one_row(con, f"select count(*) from {relation}")[0]
    serving = duckdb.connect(str(folder / SERVING_FILE))
    try:
        for schema in sorted({t.split(".")[0] for t in tables}):
            serving.execute(f"create schema if not exists {ident(schema)}")
        for table in tables:
            schema, name = table.split(".")
            path = literal(str((folder / f"{name}.parquet").resolve()))
            serving.execute(
                f"create view {ident(schema)}.{ident(name)} as select * from read_parquet({path})"
            )
        serving.execute(
            f"create table marts.{ident(PUBLICATION)} (version varchar, published_at timestamp, "
            "table_name varchar, row_count bigint)"
        )
        published = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime())
        serving.executemany(
            f"insert into marts.{ident(PUBLICATION)} values (?, ?, ?, ?)",
            [[version, published, table, n] for table, n in rows.items()],
        )
        serving.execute("checkpoint")
    finally:
        serving.close()
    return rows


def _point_link(out: Path, version: Path) -> Path:
    """Swap ``<out>/serving.duckdb`` to the version's serving file (a new link renamed over it)."""
    link = out / SERVING_FILE
    if link.exists() and not link.is_symlink():
        raise ExportError(f"{link} is a file, not the link publish keeps there: move it away")
    tmp = out / f".{SERVING_FILE}.{os.getpid()}.tmp"
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(Path(VERSIONS) / version.name / SERVING_FILE)
    os.replace(tmp, link)
    return link


def _prune(versions: Path, current: Path, keep: int) -> list[str]:
    """Remove the version folders older than the newest ``keep`` (never the current one)."""
    names = sorted(p.name for p in versions.iterdir() if p.is_dir() and not p.name.startswith("."))
    removed = []
    for name in names[:-keep]:
        if name != current.name:
            shutil.rmtree(versions / name, ignore_errors=True)
            removed.append(name)
    return removed


def publish(
    db: Path, out: Path | None = None, tables: tuple[str, ...] = BI_TABLES, keep: int = KEEP_VERSIONS
) -> Publication:
    """Publish ``tables`` of the warehouse ``db`` as a new serving version under ``out``.

    Parameters
    ----------
    db : Path
        The warehouse (opened read-only: run it after ``dbt build`` or a ``targeting`` write).
    out : Path, optional
        The serving folder (default ``$MM_SERVING_DIR`` or ``data/serving``).
    tables : tuple of str
        ``schema.table`` names to publish (default: the BI-facing marts).
    keep : int
        Versions to keep, the new one included (at least 1).

    Returns
    -------
    Publication
        The new version, the link BI tools open and the rows of each table.

    Raises
    ------
    WarehouseError
        The warehouse is missing, locked or lacks a table (the previous version stays current).
    ExportError
        The serving folder cannot be used.

    """
    if not isinstance(keep, int) or isinstance(keep, bool) or keep < 1:
        raise ExportError(f"keep must be a whole number of versions >= 1, got {keep!r}")
    out = prepare_folder(out or serving_dir(), "serving folder")
    versions = out / VERSIONS
    folder = _new_version(versions)
    try:
        rows = _write_version(db, folder, tables, folder.name)
        link = _point_link(out, folder)
    except BaseException as exc:
        shutil.rmtree(folder, ignore_errors=True)
        if isinstance(exc, OSError | duckdb.IOException):
            raise ExportError(f"cannot publish to {out}: {str(exc).splitlines()[0]}") from exc
        raise
    return Publication(folder.name, link, rows, _prune(versions, folder, keep))
