"""Every path and environment setting of the Python layer, in one place.

| setting | environment variable | default |
|---|---|---|
| warehouse file | ``MM_DUCKDB_PATH`` | ``data/warehouse.duckdb`` |
| saved runs | ``MM_RUNS_DIR`` | ``runs`` |
| reports | ``MM_REPORTS_DIR`` | ``reports`` |
| Parquet exports | ``MM_EXPORTS_DIR`` | ``data/exports`` |
| Great Expectations project | ``MM_GX_DIR`` | ``gx`` |
| dbt manifest (model names in specs) | ``MM_DBT_MANIFEST`` | ``<repo>/target/manifest.json`` |

Functions, not constants: tests and users change the variables between calls.
"""

from __future__ import annotations

import os
from pathlib import Path

#: The repository: dbt project, seeds and model specs live here.
REPO = Path(__file__).resolve().parents[3]


def default_db() -> Path:
    """Return the warehouse file: ``$MM_DUCKDB_PATH`` or ``data/warehouse.duckdb``."""
    return Path(os.environ.get("MM_DUCKDB_PATH", "data/warehouse.duckdb"))


def runs_dir() -> Path:
    """Return the folder of saved runs: ``$MM_RUNS_DIR`` or ``runs``."""
    return Path(os.environ.get("MM_RUNS_DIR", "runs"))


def reports_dir() -> Path:
    """Return the reports folder: ``$MM_REPORTS_DIR`` or ``reports``."""
    return Path(os.environ.get("MM_REPORTS_DIR", "reports"))


def exports_dir() -> Path:
    """Return the export folder: ``$MM_EXPORTS_DIR`` or ``data/exports``."""
    return Path(os.environ.get("MM_EXPORTS_DIR", "data/exports"))


def serving_dir() -> Path:
    """Return the serving folder (``targeting publish``): ``$MM_SERVING_DIR`` or ``data/serving``."""
    return Path(os.environ.get("MM_SERVING_DIR", "data/serving"))


def gx_dir() -> Path:
    """Return the Great Expectations project folder: ``$MM_GX_DIR`` or ``gx``."""
    return Path(os.environ.get("MM_GX_DIR", "gx"))


def manifest_path() -> Path:
    """Return dbt's manifest, where bare model names resolve: ``$MM_DBT_MANIFEST`` or ``target/``."""
    return Path(os.environ.get("MM_DBT_MANIFEST", REPO / "target" / "manifest.json"))
