"""``targeting evaluate``: honest splits, baselines on the same rows, metrics with intervals.

Each split is scored for the Bayesian model and the baselines trained on exactly the same
rows (baselines use every column of the spec's relation except its id, label, ``as_of`` and
``exclude``; see :mod:`targeting.models.baselines`):

* ``out_of_time`` (specs with ``as_of``): train on the cutoffs before the test cutoff, test on
  the test cutoff's clients and labels. When the latest cutoff has labels (the target file),
  it is the test cutoff and the run's own posterior is used (the run never saw it);
  otherwise the latest training cutoff is held out and the model is refitted on the earlier
  ones.
* ``held_out_clients``: a seeded hash picks ``holdout_share`` of the clients; the model is
  refitted on the other clients' rows and tested on the held-out clients' rows. No client is
  on both sides.
* ``cv_<K>fold`` (``--cv K``, instead of ``held_out_clients``): clients are split into K folds
  by a seeded hash; each fold is predicted by models refitted on the other folds, and the
  metrics are computed on the pooled out-of-fold predictions, which are also saved.

Test rows whose category (a fixed-effect text column of the formula) was not seen in the
split's training rows cannot get a Bayesian score: they are left out of that split for every
model, and the split's note says how many and which values.
"""

from __future__ import annotations

import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from targeting.core import missing, modeling, warehouse
from targeting.core.predict import describe_unseen, predict_summary, unseen_categories
from targeting.core.specs import ModelSpec
from targeting.models import runs
from targeting.models.baselines import BaselineFeatures, baseline_features, fit_baselines, predict_baselines
from targeting.models.metrics import BAYES, EvaluationResult, SplitResult, metrics_with_intervals


def _say(msg: str, progress: bool) -> None:
    if progress:
        print(f"[evaluate] {msg}", file=sys.stderr, flush=True)


def _bayes_on(spec: ModelSpec, train: pd.DataFrame, predictors: list[str]) -> tuple[Any, Any]:
    """Refit the run's model (its spec and fitted sampler) on other, prepared training rows.

    ``train`` went through :meth:`_Split.prepare`: no row misses a predictor whose rule is drop,
    and the imputed columns are filled, with their indicator columns.
    """
    indicators = [c for c in train.columns if c.endswith(missing.INDICATOR)]
    cols = list(dict.fromkeys([*spec.keys, *predictors, *indicators, spec.label]))
    model = modeling.build_model(spec, train[cols])
    idata, _ = modeling.fit_model(model, spec, progress=False)
    return model, idata


def _levels(train: pd.DataFrame, factors: list[str]) -> dict[str, set[str]]:
    return {f: set(map(str, pd.unique(train[f].dropna()))) for f in factors}


def never_features(spec: ModelSpec) -> set[str]:
    """Columns no baseline may use: the id, the label, ``as_of`` and the spec's ``exclude``."""
    return {*spec.keys, spec.label, *spec.exclude}


def client_hash(ids: pd.Series, seed: int) -> np.ndarray:
    """Hash each id (as text, so integer and text ids both work) to 64 bits, seeded."""
    key = f"{seed:016d}"[-16:]
    return pd.util.hash_pandas_object(ids.astype(str), index=False, hash_key=key).to_numpy()


def drop_unseen(train: pd.DataFrame, test: pd.DataFrame, fixed: list[str]) -> tuple[pd.DataFrame, str]:
    """Remove test rows whose value of a fixed-effect text column is not in ``train``; say which."""
    new, counts = unseen_categories(test, _levels(train, fixed))
    if not new.any():
        return test, ""
    note = f"; {int(new.sum()):,} test rows with a category unseen in training left out"
    note += f" ({describe_unseen(counts)})"
    return test[~new].reset_index(drop=True), note


def evaluate_run(
    run: str,
    db: Path,
    holdout_share: float = 0.2,
    n_boot: int = 200,
    progress: bool = True,
    root: Path | None = None,
    held_out_clients: bool = True,
    cv: int | None = None,
    seed: int | None = None,
    allow_failed_diagnostics: bool = False,
) -> EvaluationResult:
    """Evaluate a saved run and write ``ml.model_evaluations``.

    Parameters
    ----------
    run
        Run id or ``latest``.
    db
        Warehouse file (read, then written in one transaction).
    holdout_share
        Share of clients held out in the held-out-clients split.
    n_boot
        Bootstrap resamples for the metric intervals.
    progress
        Print progress.
    root
        Runs folder.
    held_out_clients
        Also run the held-out-clients split (a second fit); ignored with ``cv``.
    cv
        Number of folds for cross-validation by client (``K`` refits) instead of the
        held-out-clients split; out-of-fold scores go to the run's report folder.
    seed
        Seed of the client hash behind the held-out clients and the folds (default: the
        run's sampler seed).
    allow_failed_diagnostics
        Evaluate a run that failed its diagnostics (refused otherwise); every row's ``note``
        then says so.

    """
    if cv is not None and cv < 2:
        raise ValueError(f"--cv needs at least 2 folds, got {cv}")
    if not 0 < holdout_share < 1:
        raise ValueError(f"--holdout-share must be between 0 and 1, got {holdout_share}")
    start = time.perf_counter()
    saved = runs.load_run(run, root)
    flag = saved.require_diagnostics(allow_failed_diagnostics, "evaluate")
    spec, rec = saved.spec, saved.record
    relation, labels = rec.relation, rec.labels
    predictors, factors = rec.predictors, rec.group_factors
    fixed = list(rec.fixed_levels)
    seed = spec.sampler.seed if seed is None else seed
    never = never_features(spec)
    with warehouse.connect(db) as con:
        src = warehouse.bind_spec(con, spec, predictors, relation, labels, where=f"run {saved.run_id}")
        columns = [c for c in src.relation.columns if c not in never or c in predictors]
        train_all = warehouse.load_training_frame(con, src, columns)
        latest = warehouse.latest_cutoff(con, src)
        test_latest = (
            warehouse.load_labelled_at(con, src, columns, latest) if spec.as_of else train_all.iloc[:0]
        )
    # the refits read the table as it is now: an inf is refused as fit refuses it
    modeling.check_finite_predictors(spec, train_all, predictors, relation)
    modeling.check_finite_predictors(spec, test_latest, predictors, relation)
    train_all = modeling.check_training_frame(spec, train_all, relation)
    features = baseline_features(train_all, never)
    if features.skipped and progress:
        shown = "; ".join(f"{c} ({why})" for c, why in features.skipped.items())
        _say(f"baselines leave out {shown}", progress)
    _say(
        f"baselines use {len(features.numeric)} numeric and {len(features.categorical)} text columns",
        progress,
    )
    label = spec.label
    splits: list[SplitResult] = []

    def ctx(name: str, note: str) -> _Split:
        return _Split(name, spec, predictors, factors, fixed, features, seed, note)

    if spec.as_of:
        if len(test_latest) and test_latest[label].nunique() == 2:
            # the run's own posterior: its own imputation (learnt at fit time) on the test rows
            own = ctx("out_of_time", "")
            test = saved.imputation.apply(
                own.complete(modeling.check_training_frame(spec, test_latest, relation))
            )
            fitted_rows = saved.imputation.apply(own.complete(train_all))  # the baselines' training rows
            model, idata = saved.model(), saved.posterior()
            note = "test cutoff = latest cutoff (labels from the target file); the run's own posterior"
            _say(f"out_of_time: {len(fitted_rows):,} training rows, {len(test):,} test rows", progress)
            splits.append(ctx("out_of_time", note).score(fitted_rows, test, model, idata))
        else:
            cut = train_all[spec.as_of].max()
            train = train_all[train_all[spec.as_of] < cut]
            test = train_all[train_all[spec.as_of] == cut]
            _say(
                f"out_of_time: refitting on cutoffs before {cut}, testing {len(test):,} rows at {cut}",
                progress,
            )
            note = f"test cutoff = {cut} (the latest labelled one); refitted on the earlier cutoffs"
            splits.append(ctx("out_of_time", note).refit_and_score(train, test))

    hashed = client_hash(train_all[spec.key], seed)
    if cv is not None:
        splits.append(_cross_validate(ctx(f"cv_{cv}fold", ""), train_all, hashed, cv, saved, progress))
    elif held_out_clients:
        held = (hashed % 1000) < holdout_share * 1000
        train, test = train_all[~held], train_all[held].reset_index(drop=True)
        if test[label].nunique() == 2 and train[label].nunique() == 2:
            _say(
                f"held_out_clients: refitting on {len(train):,} rows of "
                f"{train[spec.key].nunique():,} clients; "
                f"testing {len(test):,} rows of {test[spec.key].nunique():,} other clients",
                progress,
            )
            note = f"{holdout_share:.0%} of clients held out (seeded hash)" + (
                ", tested at every training cutoff" if spec.as_of else ""
            )
            splits.append(ctx("held_out_clients", note).refit_and_score(train, test))
        else:
            _say("held_out_clients: skipped (one side has one class only)", progress)

    if not splits:
        raise modeling.DataError(
            f"run {saved.run_id}: nothing to evaluate: its spec has no as_of (no out-of-time split) and "
            "the held-out split is off; drop --no-held-out or use --cv K"
        )
    table = _metric_rows(saved.run_id, splits, n_boot, seed)
    if flag:
        table["note"] = [f"{flag}; {note}" if note else flag for note in table["note"]]
    warehouse.write_evaluations(db, saved.run_id, table)
    seconds = time.perf_counter() - start
    _say(f"wrote {len(table):,} rows to ml.model_evaluations in {seconds:.1f} s", progress)
    return EvaluationResult(saved.run_id, splits, table, seconds)


def _metric_rows(run_id: str, splits: list[SplitResult], n_boot: int, seed: int) -> pd.DataFrame:
    rows = []
    now = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
    for split in splits:
        for model_name, p in split.predictions.items():
            for metric, mv in metrics_with_intervals(split.y, p, n_boot=n_boot, seed=seed).items():
                rows.append(
                    {
                        "run_id": run_id,
                        "split": split.name,
                        "model": model_name,
                        "metric": metric,
                        "value": mv.value,
                        "lower": mv.lower,
                        "upper": mv.upper,
                        "n_rows": len(split.y),
                        "n_positives": int(split.y.sum()),
                        "n_train_rows": split.n_train,
                        "test_as_of": None
                        if split.test_as_of is None
                        else pd.Timestamp(split.test_as_of).date(),
                        "note": split.note,
                        "evaluated_at": now,
                    }
                )
    return pd.DataFrame(rows)


class _Split:
    """One split's settings: fits the Bayesian model and the baselines on training rows, scores test rows."""

    def __init__(
        self,
        name: str,
        spec: ModelSpec,
        predictors: list[str],
        factors: list[str],
        fixed: list[str],
        features: BaselineFeatures,
        seed: int,
        note: str,
    ) -> None:
        self.name, self.spec, self.predictors, self.factors = name, spec, predictors, factors
        self.fixed, self.features, self.seed, self.note = fixed, features, seed, note

    def complete(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Return ``frame`` without the rows missing a predictor whose rule is drop."""
        dropped = self.spec.missing.dropped(self.predictors, frame)
        return frame.dropna(subset=dropped).reset_index(drop=True)

    def prepare(self, train: pd.DataFrame, test: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Apply the spec's missing-value policy as fit does: drop, then impute as learnt on ``train``.

        The Bayesian model and the baselines then see the same training and test rows.
        """
        train, test = self.complete(train), self.complete(test)
        try:
            imputation = missing.learn(self.spec.missing, train, self.predictors, self.spec.path or self.name)
        except missing.MissingPolicyError as exc:
            raise modeling.DataError(f"{self.name}: {exc}") from None
        return imputation.apply(train), imputation.apply(test)

    def refit_and_score(self, train: pd.DataFrame, test: pd.DataFrame) -> SplitResult:
        """Refit the run's model on ``train`` and score ``test`` with it and the baselines."""
        train, test = self.prepare(train, test)
        model, idata = _bayes_on(self.spec, train, self.predictors)
        return self.score(train, test, model, idata)

    def predict(
        self, train: pd.DataFrame, test: pd.DataFrame, model: Any, idata: Any
    ) -> tuple[pd.DataFrame, dict[str, np.ndarray], str]:
        """Predictions of every model on ``test`` (rows with an unseen category dropped)."""
        test, dropped = drop_unseen(train, test, self.fixed)
        if test.empty:
            raise modeling.DataError(f"{self.name}: no test row left to score{dropped}")
        summary, _ = predict_summary(model, idata, test, self.factors, _levels(train, self.factors))
        predictions = {BAYES: summary["p_mean"]}
        predictions.update(
            predict_baselines(fit_baselines(train, self.features, self.spec.label, self.seed), test)
        )
        return test, predictions, dropped

    def score(self, train: pd.DataFrame, test: pd.DataFrame, model: Any, idata: Any) -> SplitResult:
        """Score ``test`` with a fitted Bayesian model and baselines fitted on ``train``."""
        test, predictions, dropped = self.predict(train, test, model, idata)
        return SplitResult(
            name=self.name,
            test_as_of=test[self.spec.as_of].max() if self.spec.as_of else None,
            y=test[self.spec.label].astype(int).to_numpy(),
            predictions=predictions,
            n_train=len(train),
            note=self.note + dropped,
        )


def _cross_validate(
    split: _Split, frame: pd.DataFrame, hashed: np.ndarray, k: int, saved: runs.SavedRun, progress: bool
) -> SplitResult:
    """K-fold cross-validation by client; saves the out-of-fold scores next to the run's report."""
    from targeting.core.settings import reports_dir

    spec = split.spec
    fold = (hashed % np.uint64(k)).astype(np.int64)
    pieces, notes, n_train = [], [], []
    for f in range(k):
        train, test = split.prepare(frame[fold != f], frame[fold == f])
        if train[spec.label].nunique() < 2 or test.empty:
            raise modeling.DataError(
                f"fold {f + 1} of {k}: {len(test)} test rows, training labels "
                f"{sorted(train[spec.label].unique())}; "
                f"use fewer folds"
            )
        _say(f"fold {f + 1}/{k}: refitting on {len(train):,} rows, predicting {len(test):,}", progress)
        model, idata = _bayes_on(spec, train, split.predictors)
        kept, predictions, dropped = split.predict(train, test, model, idata)
        if dropped:
            notes.append(f"fold {f + 1}{dropped}")
        out = kept[[*spec.keys, spec.label]].copy()
        out.insert(0, "fold", f + 1)
        for name, p in predictions.items():
            out[f"p_{name}"] = p
        pieces.append(out)
        n_train.append(len(train))
    oof = pd.concat(pieces, ignore_index=True)
    folder = reports_dir() / saved.run_id
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"cv_{k}fold_scores.parquet"
    oof.to_parquet(path, index=False)
    _say(f"out-of-fold scores of {len(oof):,} rows: {path}", progress)
    models = [c.removeprefix("p_") for c in oof.columns if c.startswith("p_")]
    note = (
        f"{k}-fold cross-validation by client (seeded hash, seed {split.seed}); metrics on the pooled "
        f"out-of-fold predictions; scores in {path.name}" + ("" if not notes else "; " + "; ".join(notes))
    )
    return SplitResult(
        name=split.name,
        test_as_of=frame[spec.as_of].max() if spec.as_of else None,
        y=oof[spec.label].astype(int).to_numpy(),
        predictions={m: oof[f"p_{m}"].to_numpy() for m in models},
        n_train=int(np.mean(n_train)),
        note=note,
    )
