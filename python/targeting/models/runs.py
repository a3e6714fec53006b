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
from dataclasses import MISSING, asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, TypedDict

import pandas as pd

from targeting.core.missing import Imputation
from targeting.core.settings import runs_dir
from targeting.core.specs import ModelSpec, Sampler, SpecError, load_spec, parse_sampler
from targeting.core.sqlsafe import UnsafeSqlError, check_name


class RunError(RuntimeError):
    """A saved run cannot be found or used."""


#: The layout of ``schema.json``. A record without ``format_version`` was written before the
#: field existed, with the same fields as format 1, and is read as format 1; any other number
#: (a run written by a newer marketing_mart) is refused with a message.
RUN_FORMAT_VERSION = 1


class SamplerSettings(TypedDict):
    """The sampler a run was fitted with (``targeting.core.specs.Sampler`` as resolved at fit time)."""

    method: str
    draws: int
    tune: int
    chains: int
    target_accept: float
    seed: int
    backend: str
    mass_matrix: str
    precision: str


class DiagnosticsRecord(TypedDict):
    """A fit's convergence diagnostics (``targeting.core.modeling.Diagnostics``).

    The three figures are None for VI and Laplace fits.
    """

    max_r_hat: float | None
    min_ess_bulk: float | None
    divergences: int | None
    ok: bool
    message: str


def sampler_settings(s: Sampler) -> SamplerSettings:
    """Return a ``Sampler`` as the run record stores it."""
    return SamplerSettings(
        method=s.method,
        draws=s.draws,
        tune=s.tune,
        chains=s.chains,
        target_accept=s.target_accept,
        seed=s.seed,
        backend=s.backend,
        mass_matrix=s.mass_matrix,
        precision=s.precision,
    )


def _check_diagnostics(raw: object, where: str) -> DiagnosticsRecord:
    """Check a stored diagnostics mapping has its five fields with the right kinds."""
    expected = sorted(DiagnosticsRecord.__annotations__)
    if not isinstance(raw, dict) or sorted(raw) != expected:
        raise RunError(f"{where}: diagnostics must hold exactly {expected}; refit the spec")
    if not isinstance(raw["ok"], bool) or not isinstance(raw["message"], str):
        raise RunError(
            f"{where}: diagnostics.ok must be true/false and diagnostics.message text; refit the spec"
        )
    for key in ("max_r_hat", "min_ess_bulk", "divergences"):
        if raw[key] is not None and (isinstance(raw[key], bool) or not isinstance(raw[key], int | float)):
            raise RunError(
                f"{where}: diagnostics.{key} must be a number or null, got {raw[key]!r}; refit the spec"
            )
    return DiagnosticsRecord(
        max_r_hat=raw["max_r_hat"],
        min_ess_bulk=raw["min_ess_bulk"],
        divergences=raw["divergences"],
        ok=raw["ok"],
        message=raw["message"],
    )


@dataclass(frozen=True)
class RunRecord:
    """What a fit records about itself (``schema.json``): written by ``fit``, read by the rest.

    ``sampler`` is the sampler as resolved at fit time (the spec's settings with any command
    line overrides), so every later refit or rebuild of the run uses the settings it was
    fitted with, not whatever the spec file says today.
    """

    run_id: str
    spec_name: str
    spec_path: str
    formula: str
    family: str
    relation: str
    labels: str | None
    predictors: list[str]
    group_factors: list[str]
    group_levels: dict[str, list[str]]
    fixed_levels: dict[str, list[str]]
    column_types: dict[str, str]
    sampler: SamplerSettings
    n_train_rows: int
    n_train_positives: int
    n_dropped_missing: int
    train_as_of_min: str | None
    train_as_of_max: str | None
    diagnostics: DiagnosticsRecord
    fit_seconds: float
    fitted_at: str
    #: the missing-value imputation learnt at fit time (targeting.core.missing.Imputation.to_dict);
    #: empty when no predictor is imputed (a run saved before the policy existed, too)
    missing: dict[str, Any] = field(default_factory=dict)
    #: the record's layout (RUN_FORMAT_VERSION when written)
    format_version: int = RUN_FORMAT_VERSION

    def level_sets(self) -> tuple[dict[str, set[str]], dict[str, set[str]]]:
        """Return the training levels of each fixed-effect text column and of each group factor."""
        fixed = {column: set(values) for column, values in self.fixed_levels.items()}
        return fixed, {factor: set(values) for factor, values in self.group_levels.items()}

    def to_json(self) -> str:
        """Return the record as indented JSON."""
        return json.dumps(asdict(self), indent=2, default=str) + "\n"

    @classmethod
    def from_json(cls, text: str, where: str) -> RunRecord:
        """Read a record, naming the file and the missing fields when it is incomplete."""
        raw = json.loads(text)
        if not isinstance(raw, dict):
            raise RunError(f"{where}: expected a JSON object with the run's record")
        version = raw.get("format_version", 1)  # written before the field existed: format 1
        if version != RUN_FORMAT_VERSION or isinstance(version, bool):
            raise RunError(
                f"{where}: the run record is format {version!r}; this version of marketing_mart reads "
                f"format {RUN_FORMAT_VERSION}: refit the spec (or use the version that wrote it)"
            )
        names = [f.name for f in fields(cls)]
        optional = {
            f.name for f in fields(cls) if f.default_factory is not MISSING or f.default is not MISSING
        }
        missing = [n for n in names if n not in raw and n not in optional]
        if missing:
            raise RunError(f"{where}: the run record lacks {missing}; refit the spec")
        if not isinstance(raw["sampler"], dict):
            raise RunError(f"{where}: sampler must be a mapping of settings; refit the spec")
        values = {n: raw[n] for n in names if n in raw}
        values["diagnostics"] = _check_diagnostics(raw["diagnostics"], where)
        values["format_version"] = RUN_FORMAT_VERSION
        return cls(**values)


@dataclass
class SavedRun:
    """A run loaded from disk: its spec (with the sampler it was fitted with), rows and record."""

    run_id: str
    folder: Path
    spec: ModelSpec
    train: pd.DataFrame
    record: RunRecord

    @property
    def imputation(self) -> Imputation:
        """The missing-value imputation the run learnt (applied to every row it scores or tests)."""
        return Imputation.from_dict(self.record.missing)

    def model(self) -> Any:
        """Rebuild the fitted Bambi model exactly (same formula, priors, training rows, precision)."""
        from targeting.core.modeling import build_model

        return build_model(self.spec, self.train)

    def require_diagnostics(self, allow_failed: bool, command: str) -> str:
        """Refuse a run that failed its diagnostics unless ``allow_failed``; return a note.

        A run whose sampler did not converge (r_hat, effective sample size, divergences) gives
        scores and metrics that cannot be trusted: ``score`` and ``evaluate`` stop before
        writing anything. With the override (``--allow-failed-diagnostics``) they go on, and
        the returned note (empty for a run that passed) goes into the tables they write.
        """
        diag = self.record.diagnostics
        if diag["ok"]:
            return ""
        message = diag["message"]
        if not allow_failed:
            raise RunError(
                f"run {self.run_id} failed its diagnostics ({message}); refit with more tune/draws or "
                f"pass --allow-failed-diagnostics to {command} it anyway (the tables then carry the flag)"
            )
        return f"run failed its diagnostics, {command}d with --allow-failed-diagnostics: {message}"

    def posterior(self) -> Any:
        """Load the InferenceData of the fit (a truncated or corrupt file is a ``RunError``)."""
        import arviz as az

        path = self.folder / "posterior.nc"
        try:
            idata = az.from_netcdf(path)
            idata.posterior.load()
        except Exception as exc:  # h5netcdf/h5py raise OSError, ValueError, KeyError, ...
            raise RunError(
                f"run {self.run_id}: saved posterior {path} cannot be read (truncated or corrupt?): "
                f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}; refit the spec"
            ) from exc
        return idata


def save_run(
    spec: ModelSpec,
    idata: Any,
    train: pd.DataFrame,
    record: RunRecord,
    root: Path | None = None,
) -> Path:
    """Write a run folder atomically (a temporary folder renamed into place)."""
    root = root or runs_dir()
    run_id = record.run_id
    check_name(run_id, "run id", str(root))
    final = root / run_id
    try:
        root.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{run_id}.", dir=root))
    except OSError as exc:
        raise RunError(f"cannot save run {run_id} in {root}: {exc.strerror or exc}") from exc
    try:
        (tmp / "spec.yml").write_text(spec.text)
        idata.to_netcdf(str(tmp / "posterior.nc"), engine="h5netcdf")
        train.to_parquet(tmp / "train.parquet", index=False)
        (tmp / "schema.json").write_text(record.to_json())
        if final.exists():
            shutil.rmtree(final)
        tmp.rename(final)
        pointer = root / ".LATEST.tmp"
        pointer.write_text(run_id + "\n")
        os.replace(pointer, root / "LATEST")
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        (root / ".LATEST.tmp").unlink(missing_ok=True)
        raise RunError(
            f"cannot save run {run_id} in {root}: {exc.strerror or exc} "
            f"(nothing was saved; earlier runs are intact)"
        ) from exc
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final


def load_run(run: str = "latest", root: Path | None = None) -> SavedRun:
    """Load a saved run by id, or the latest fitted one."""
    root = root or runs_dir()
    if run == "latest":
        pointer = root / "LATEST"
        if not pointer.exists():
            raise RunError(f"no runs in {root}: run `targeting fit --spec ...` first")
        run = pointer.read_text().strip()
    try:
        check_name(run, "run id", str(root))
    except UnsafeSqlError as exc:
        raise RunError(str(exc)) from exc
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
    try:
        record = RunRecord.from_json((folder / "schema.json").read_text(), str(folder / "schema.json"))
        train = pd.read_parquet(folder / "train.parquet")
        spec = replace(spec, sampler=parse_sampler(record.sampler, str(folder / "schema.json")))
    except (OSError, ValueError, TypeError) as exc:  # includes JSON, Arrow and spec errors
        raise RunError(
            f"run {run}: {folder} is incomplete or corrupt ({str(exc).splitlines()[0]}); refit the spec"
        ) from exc
    return SavedRun(run, folder, spec, train, record)
