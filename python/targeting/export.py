"""``targeting export``: Parquet copies of the BI-facing marts that BI tools may read any time.

Each file is written beside its final name and then renamed over it (``os.replace``, atomic
on POSIX), so a reader sees the previous complete file or the new complete file, never half
of one, and never needs the DuckDB file (whose single writer lock a BI tool could block).
"""

from __future__ import annotations

import os
from pathlib import Path

from targeting.warehouse import connect

BI_TABLES = (
    "marts.targeting_list",
    "marts.customer_features",
    "marts.campaign_performance",
    "marts.channel_performance",
    "marts.model_monitoring",
)


def exports_dir() -> Path:
    """Return the export folder: ``$MM_EXPORTS_DIR`` or ``data/exports``."""
    return Path(os.environ.get("MM_EXPORTS_DIR", "data/exports"))


def export_marts(db: Path, out: Path | None = None, tables: tuple[str, ...] = BI_TABLES) -> dict[str, int]:
    """Write each table to ``<out>/<table>.parquet`` atomically; return rows per file."""
    out = out or exports_dir()
    out.mkdir(parents=True, exist_ok=True)
    written = {}
    with connect(db) as con:
        for table in tables:
            name = table.split(".")[-1]
            final = out / f"{name}.parquet"
            tmp = out / f".{name}.parquet.tmp"
            target = str(tmp).replace("'", "''")
            con.execute(f"copy (select * from {table}) to '{target}' (format parquet, compression zstd)")
            os.replace(tmp, final)
            written[str(final)] = con.execute(f"select count(*) from {table}").fetchone()[0]
    return written
