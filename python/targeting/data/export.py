"""``targeting export``: Parquet copies of the BI-facing marts that BI tools may read any time.

Each file is written beside its final name and then renamed over it (``os.replace``, atomic
on POSIX), so a reader sees the previous complete file or the new complete file, never half
of one, and never needs the DuckDB file (whose single writer lock a BI tool could block).
"""

from __future__ import annotations

import os
from pathlib import Path

import duckdb

from targeting.core.settings import exports_dir
from targeting.core.sqlsafe import ident, one_row
from targeting.core.warehouse import WarehouseError, connect

BI_TABLES = (
    "marts.targeting_list",
    "marts.customer_features",
    "marts.campaign_performance",
    "marts.channel_performance",
    "marts.campaign_economics",
    "marts.model_monitoring",
    "marts.ab_test_results",
    "marts.experiment_decisions",
    "marts.campaign_lift",
    "marts.customer_segments",
    "marts.customer_segment_transitions",
    "marts.segment_profiles",
    "marts.customer_value",
    "marts.customer_rfm_summary",
    "marts.uplift_targeting",
)


class ExportError(WarehouseError):
    """The export folder cannot be used or a file cannot be written."""


def prepare_folder(out: Path, what: str = "export folder") -> Path:
    """Return ``out``, created if missing; raise ExportError, naming it ``what``, if it cannot be."""
    if out.exists() and not out.is_dir():
        raise ExportError(f"{what} {out} is a file; expected a folder (or a path that does not exist)")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ExportError(f"cannot create {what} {out}: {exc.strerror or exc}") from exc
    if not os.access(out, os.W_OK):
        raise ExportError(f"{what} {out} is not writable")
    return out


def export_marts(db: Path, out: Path | None = None, tables: tuple[str, ...] = BI_TABLES) -> dict[str, int]:
    """Write each table to ``<out>/<table>.parquet`` atomically; return rows per file.

    The path is a bound parameter of DuckDB's ``COPY``; a failed write (disk full, a folder
    that became unwritable) removes its temporary file and leaves the previous export whole.
    """
    out = prepare_folder(out or exports_dir())
    written = {}
    with connect(db) as con:
        for table in tables:
            schema, name = table.split(".")
            relation = f"{ident(schema)}.{ident(name)}"
            final = out / f"{name}.parquet"
            tmp = out / f".{name}.parquet.tmp"
            try:
                con.execute(
                    f"copy (select * from {relation}) to ? (format parquet, compression zstd)", [str(tmp)]
                )
                os.replace(tmp, final)
            except (OSError, duckdb.IOException) as exc:
                tmp.unlink(missing_ok=True)
                raise ExportError(f"cannot write {final}: {str(exc).splitlines()[0]}") from exc
            written[str(final)] = one_row(con, f"select count(*) from {relation}")[0]
    return written
