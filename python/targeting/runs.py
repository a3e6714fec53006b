"""Saved runs: the posterior, the spec, the data schema and the training rows on disk.

Bambi has no save/load; a run folder holds enough to rebuild the exact model later:

```
runs/<run_id>/
  spec.yml        the spec text as fitted
  posterior.nc    ArviZ InferenceData (NetCDF)
  train.parquet   the training rows (formula columns only): stateful transforms such as
                  scale() and the group levels are rebuilt from them
  schema.json     column types of the formula columns, group levels, run metadata
```
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from targeting.specs import ModelSpec, SpecError, load_spec


class RunError(RuntimeError):
    """A saved run cannot be found or used."""


def runs_dir() -> Path:
    """Folder of saved runs: ``$MM_RUNS_DIR`` or ``runs``."""
    return Path(os.environ.get("MM_RUNS_DIR", "runs"))


@dataclass
class SavedRun:
    """A run loaded from disk."""

    run_id: str
    folder: Path
    spec: ModelSpec
    train: pd.DataFrame
    meta: dict[str, Any]

    def posterior(self) -> Any:
        """Load the InferenceData of the fit."""
        import arviz as az

        return az.from_netcdf(self.folder / "posterior.nc")


def save_run(
    run_id: str,
    spec: ModelSpec,
    idata: Any,
    train: pd.DataFrame,
    meta: dict[str, Any],
    root: Path | None = None,
) -> Path:
    """Write a run folder atomically (a temporary folder renamed into place)."""
    root = root or runs_dir()
    root.mkdir(parents=True, exist_ok=True)
    final = root / run_id
    tmp = Path(tempfile.mkdtemp(prefix=f".{run_id}.", dir=root))
    try:
        (tmp / "spec.yml").write_text(spec.text)
        idata.to_netcdf(str(tmp / "posterior.nc"), engine="h5netcdf")
        train.to_parquet(tmp / "train.parquet", index=False)
        (tmp / "schema.json").write_text(json.dumps(meta, indent=2, default=str) + "\n")
        if final.exists():
            shutil.rmtree(final)
        tmp.rename(final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    (root / "LATEST").write_text(run_id + "\n")
    return final


def load_run(run: str = "latest", root: Path | None = None) -> SavedRun:
    """Load a saved run by id, or the latest fitted one."""
    root = root or runs_dir()
    if run == "latest":
        pointer = root / "LATEST"
        if not pointer.exists():
            raise RunError(f"no runs in {root}: run `targeting fit --spec ...` first")
        run = pointer.read_text().strip()
    folder = root / run
    if not (folder / "schema.json").exists():
        known = (
            sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
            if root.exists()
            else []
        )
        raise RunError(f"run {run!r} not found in {root}; saved runs: {', '.join(known) or 'none'}")
    spec_path = folder / "spec.yml"
    try:
        spec = load_spec(spec_path)
    except SpecError as exc:
        raise RunError(f"run {run}: its spec no longer loads: {exc}") from exc
    meta = json.loads((folder / "schema.json").read_text())
    overrides = meta.get("sampler_overrides") or {}
    if overrides:
        spec = spec.with_sampler(**overrides)
    return SavedRun(run, folder, spec, pd.read_parquet(folder / "train.parquet"), meta)
