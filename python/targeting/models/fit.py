"""``targeting fit``: read the training rows of a spec, fit, diagnose, save the run."""

from __future__ import annotations

import hashlib
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from targeting.core import missing, modeling, warehouse
from targeting.core.specs import ModelSpec, SpecError
from targeting.models import runs


@dataclass
class FitResult:
    """What a fit produced."""

    run_id: str
    folder: Path
    diagnostics: modeling.Diagnostics
    n_train: int
    seconds: float
    idata: Any


def _say(msg: str, progress: bool) -> None:
    if progress:
        print(f"[fit] {msg}", file=sys.stderr, flush=True)


def run_id_for(spec: ModelSpec, train: pd.DataFrame) -> str:
    """Deterministic run id: the same spec text and training rows give the same id."""
    h = hashlib.sha256(spec.text.encode())
    h.update(pd.util.hash_pandas_object(train, index=False).to_numpy().tobytes())
    return f"{spec.name}-{h.hexdigest()[:12]}"


def learn_imputation(spec: ModelSpec, train: pd.DataFrame, predictors: list[str]) -> missing.Imputation:
    """Learn the spec's missing-value imputation on ``train`` (a rule unfit for its column: ``SpecError``)."""
    try:
        return missing.learn(spec.missing, train, predictors, spec.path or spec.name)
    except missing.MissingPolicyError as exc:
        raise SpecError(str(exc)) from None


def read_training_rows(
    spec: ModelSpec, db: Path
) -> tuple[pd.DataFrame, modeling.FormulaColumns, str, str | None]:
    """Resolve relations, check every column the spec names, and read checked training rows.

    Returns the frame, the formula's columns, and the resolved ``schema.table`` names of the
    relation and of the labels relation (``None`` without one).
    """
    needed = modeling.formula_columns(spec)
    with warehouse.connect(db) as con:
        src = warehouse.bind_spec(con, spec, needed.predictors, numeric=needed.numeric)
        frame = warehouse.load_training_frame(con, src, needed.predictors)
    relation = src.relation.label
    modeling.check_finite_predictors(spec, frame, needed.predictors, relation)
    frame = modeling.check_training_frame(spec, frame, relation)
    return frame, needed, relation, src.labels.label if src.labels else None


def fit_spec(
    spec: ModelSpec,
    db: Path,
    progress: bool = True,
    root: Path | None = None,
) -> FitResult:
    """Fit a spec on the warehouse and save the run.

    Parameters
    ----------
    spec
        The model spec (sampler overrides already applied).
    db
        Warehouse file (opened read-only).
    progress
        Print progress and the sampler's progress bar.
    root
        Runs folder (default ``runs/`` or ``$MM_RUNS_DIR``). The run records the resolved
        sampler (spec settings and overrides), so it can be rebuilt and refitted exactly.

    """
    frame, needed, relation, labels = read_training_rows(spec, db)
    cols = list(dict.fromkeys([*spec.keys, *needed.predictors, spec.label]))
    # missing values, by the spec's policy (targeting.core.missing): rows missing a predictor whose
    # rule is drop are dropped here, before the model (Bambi would drop them itself, unseen by
    # the counts); the imputed ones are learnt on the rows kept and filled, with indicators.
    # Every count, the saved training rows and the SQL engine's design then describe the rows
    # the model was fitted on
    read = frame[cols]
    dropped = spec.missing.dropped(needed.predictors, read)
    train = read.dropna(subset=dropped).reset_index(drop=True)
    n_missing = len(read) - len(train)
    if n_missing and train.empty:
        most = read[dropped].isna().sum().sort_values(ascending=False)
        raise modeling.DataError(
            f"every one of the {len(read):,} labelled rows of {relation} misses a predictor value "
            f"(most often {most.index[0]!r}, on {int(most.iloc[0]):,} rows)"
        )
    imputation = learn_imputation(spec, train, needed.predictors)
    train = imputation.apply(train)
    if n_missing:
        train = modeling.check_training_frame(spec, train, relation)
    span = f", cutoffs {train[spec.as_of].min()} .. {train[spec.as_of].max()}" if spec.as_of else ""
    _say(
        f"{len(train):,} training rows ({int(train[spec.label].sum()):,} positive) from {relation}{span}"
        + (
            f"; {n_missing:,} of the {len(read):,} labelled rows dropped for a missing predictor"
            if n_missing
            else ""
        )
        + (f"; {missing.describe(imputation)}" if imputation.values else ""),
        progress,
    )
    model = modeling.build_model(spec, train)
    s = spec.sampler
    _say(
        f"fitting {spec.formula!r} with {s.method} ({s.chains} chains x {s.draws} draws, "
        f"{s.tune} tune, seed {s.seed})",
        progress,
    )
    idata, seconds = modeling.fit_model(model, spec, progress=progress)
    diag = modeling.diagnose(idata, spec)
    if not diag.ok:
        modeling.warn(
            f"run for spec {spec.name!r} failed its diagnostics: {diag.message}. "
            f"The run is saved and marked; do not trust its scores before fixing it "
            f"(more tune/draws, higher target_accept, or a simpler formula)."
        )
    run_id = run_id_for(spec, train)
    levels = {f: sorted(map(str, pd.unique(train[f].dropna()))) for f in needed.group_factors}
    # text predictors outside group terms are fixed effects: a level unseen here cannot be scored
    fixed_levels = {
        c: sorted(map(str, pd.unique(train[c].dropna())))
        for c in needed.predictors
        if c not in needed.group_factors
        and not pd.api.types.is_numeric_dtype(train[c])
        and not pd.api.types.is_bool_dtype(train[c])
    }
    record = runs.RunRecord(
        run_id=run_id,
        spec_name=spec.name,
        spec_path=spec.path,
        formula=spec.formula,
        family=spec.family,
        relation=relation,
        labels=labels,
        predictors=needed.predictors,
        group_factors=needed.group_factors,
        group_levels=levels,
        fixed_levels=fixed_levels,
        column_types={c: str(read[c].dtype) for c in needed.predictors},
        sampler=runs.sampler_settings(s),
        n_train_rows=len(train),
        n_train_positives=int(train[spec.label].sum()),
        n_dropped_missing=n_missing,
        missing=imputation.to_dict(),
        train_as_of_min=str(train[spec.as_of].min()) if spec.as_of else None,
        train_as_of_max=str(train[spec.as_of].max()) if spec.as_of else None,
        diagnostics=runs.DiagnosticsRecord(
            max_r_hat=diag.max_r_hat,
            min_ess_bulk=diag.min_ess_bulk,
            divergences=diag.divergences,
            ok=diag.ok,
            message=diag.message,
        ),
        fit_seconds=seconds,
        fitted_at=datetime.now(UTC).replace(tzinfo=None).isoformat(timespec="seconds"),
    )
    folder = runs.save_run(spec, idata, train, record, root)
    # the figures rounded as the gate reads them (the verdict is printed by the command)
    figures = (
        f"max r_hat {diag.max_r_hat:.3f}, min bulk ESS {diag.min_ess_bulk:.0f}, "
        f"{diag.divergences} divergences"
        if diag.max_r_hat is not None and diag.min_ess_bulk is not None
        else diag.message
    )
    _say(f"sampled in {seconds:.1f} s: {figures}", progress)
    return FitResult(run_id, folder, diag, len(train), seconds, idata)
