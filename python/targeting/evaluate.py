"""``targeting evaluate``: honest splits, baselines on the same rows, metrics with intervals.

Two splits, each scored for the Bayesian model and three baselines trained on exactly the
same rows:

* ``out_of_time``: train on the cutoffs before the test cutoff, test on the test cutoff's
  clients and labels. When the latest cutoff has labels (the target file), it is the test
  cutoff and the run's own posterior is used (the run never saw it); otherwise the latest
  training cutoff is held out and the model is refitted on the earlier ones.
* ``held_out_clients``: a seeded hash picks ``holdout_share`` of the clients; the model is
  refitted on the other clients' rows and tested on the held-out clients' rows at the same
  training cutoffs. No client is on both sides.
"""

from __future__ import annotations

import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier

from targeting import modeling, runs, warehouse
from targeting.baselines import NON_FEATURES, design_matrix, fit_logistic
from targeting.metrics import BAYES, EvaluationResult, SplitResult, metrics_with_intervals
from targeting.predict import predict_summary
from targeting.specs import ModelSpec


def _say(msg: str, progress: bool) -> None:
    if progress:
        print(f"[evaluate] {msg}", file=sys.stderr, flush=True)


def rule_score(frame: pd.DataFrame) -> np.ndarray:
    """Recency/frequency rule: more recent orders and more of them rank higher.

    ``log1p(orders_365d) - log1p(days_since_last_order) / 2``, squashed to (0, 1) with a
    logistic so log loss and calibration can be computed (they are not the rule's point).
    """
    orders = np.log1p(frame["orders_365d"].astype(float).fillna(0).to_numpy())
    recency = np.log1p(frame["days_since_last_order"].astype(float).fillna(999).to_numpy())
    raw = orders - recency / 2
    return 1 / (1 + np.exp(-(raw - 3.5)))


def fit_baselines(train: pd.DataFrame, label: str, seed: int) -> dict[str, Any]:
    """Fit the scikit-learn baselines on all numeric mart features."""
    y = train[label].astype(int)
    logistic = fit_logistic(train, label=label)
    gbm = HistGradientBoostingClassifier(
        max_iter=300, learning_rate=0.05, max_leaf_nodes=15, l2_regularization=1.0, random_state=seed
    ).fit(design_matrix(train), y)
    return {"logistic_regression": logistic, "gradient_boosting": gbm}


def predict_baselines(models: dict[str, Any], test: pd.DataFrame) -> dict[str, np.ndarray]:
    """Probabilities of every baseline for ``test``."""
    x = design_matrix(test)
    out = {"rule_recency_frequency": rule_score(test)}
    for name, model in models.items():
        out[name] = model.predict_proba(x)[:, 1]
    return out


def _bayes_on(spec: ModelSpec, train: pd.DataFrame, predictors: list[str]) -> tuple[Any, Any]:
    """Refit the run's model (its spec and fitted sampler) on other training rows."""
    cols = [spec.id, spec.as_of, *predictors, spec.label]
    model = modeling.build_model(spec, train[cols].dropna(subset=predictors))
    idata, _ = modeling.fit_model(model, spec, progress=False)
    return model, idata


def _levels(train: pd.DataFrame, factors: list[str]) -> dict[str, set[str]]:
    return {f: set(map(str, pd.unique(train[f].dropna()))) for f in factors}


def evaluate_run(
    run: str,
    db: Path,
    holdout_share: float = 0.2,
    n_boot: int = 200,
    progress: bool = True,
    root: Path | None = None,
    held_out_clients: bool = True,
) -> EvaluationResult:
    """Evaluate a saved run on both splits and write ``ml.model_evaluations``.

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
        Also run the held-out-clients split (a second fit).

    """
    start = time.perf_counter()
    saved = runs.load_run(run, root)
    spec, rec = saved.spec, saved.record
    relation, labels = rec.relation, rec.labels
    predictors, factors = rec.predictors, rec.group_factors
    seed = spec.sampler.seed
    with warehouse.connect(db) as con:
        src = warehouse.bind_spec(con, spec, predictors, relation, labels, where=f"run {saved.run_id}")
        columns = [c for c in src.relation.columns if c not in NON_FEATURES or c in predictors]
        train_all = warehouse.load_training_frame(con, src, columns)
        latest = warehouse.latest_cutoff(con, src)
        test_latest = warehouse.load_labelled_at(con, src, columns, latest)
    train_all = modeling.check_training_frame(spec, train_all, relation)
    label = spec.label
    splits: list[SplitResult] = []

    def complete(frame: pd.DataFrame) -> pd.DataFrame:
        return frame.dropna(subset=predictors).reset_index(drop=True)

    # out of time
    if len(test_latest) and test_latest[label].nunique() == 2:
        test = complete(modeling.check_training_frame(spec, test_latest, relation))
        train = train_all
        model = saved.model()
        idata = saved.posterior()
        levels = {f: set(v) for f, v in rec.group_levels.items()}
        note = "test cutoff = latest cutoff (labels from the target file); the run's own posterior"
    else:
        cut = train_all[spec.as_of].max()
        train = train_all[train_all[spec.as_of] < cut]
        test = complete(train_all[train_all[spec.as_of] == cut])
        _say(f"latest cutoff has no labels: refitting on cutoffs before {cut} and testing on {cut}", progress)
        model, idata = _bayes_on(spec, train, predictors)
        levels = _levels(train, factors)
        note = f"test cutoff = {cut} (the latest labelled one); refitted on the earlier cutoffs"
    _say(f"out_of_time: {len(train):,} training rows, {len(test):,} test rows", progress)
    splits.append(_score_split("out_of_time", spec, model, idata, levels, factors, train, test, seed, note))

    # held-out clients
    hashed = pd.util.hash_pandas_object(
        train_all[spec.id].astype("int64"), index=False, hash_key=f"{seed:016d}"[:16]
    )
    held = (hashed.to_numpy() % 1000) < holdout_share * 1000
    train = train_all[~held]
    test = complete(train_all[held])
    if held_out_clients and test[label].nunique() == 2 and train[label].nunique() == 2:
        _say(
            f"held_out_clients: refitting on {len(train):,} rows of {train[spec.id].nunique():,} clients; "
            f"testing {len(test):,} rows of {test[spec.id].nunique():,} other clients",
            progress,
        )
        model, idata = _bayes_on(spec, train, predictors)
        note = f"{holdout_share:.0%} of clients held out (seeded hash), tested at every training cutoff"
        splits.append(
            _score_split(
                "held_out_clients",
                spec,
                model,
                idata,
                _levels(train, factors),
                factors,
                train,
                test,
                seed,
                note,
            )
        )
    elif held_out_clients:
        _say("held_out_clients: skipped (the held-out clients have one class only)", progress)

    rows = []
    now = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
    for split in splits:
        for model_name, p in split.predictions.items():
            for metric, mv in metrics_with_intervals(split.y, p, n_boot=n_boot, seed=seed).items():
                rows.append(
                    {
                        "run_id": saved.run_id,
                        "split": split.name,
                        "model": model_name,
                        "metric": metric,
                        "value": mv.value,
                        "lower": mv.lower,
                        "upper": mv.upper,
                        "n_rows": len(split.y),
                        "n_positives": int(split.y.sum()),
                        "n_train_rows": split.n_train,
                        "test_as_of": pd.Timestamp(split.test_as_of).date(),
                        "note": split.note,
                        "evaluated_at": now,
                    }
                )
    table = pd.DataFrame(rows)
    warehouse.write_evaluations(db, saved.run_id, table)
    seconds = time.perf_counter() - start
    _say(f"wrote {len(table):,} rows to ml.model_evaluations in {seconds:.1f} s", progress)
    return EvaluationResult(saved.run_id, splits, table, seconds)


def _score_split(
    name: str,
    spec: ModelSpec,
    model: Any,
    idata: Any,
    levels: dict[str, set[str]],
    factors: list[str],
    train: pd.DataFrame,
    test: pd.DataFrame,
    seed: int,
    note: str,
) -> SplitResult:
    summary, _ = predict_summary(model, idata, test, factors, levels)
    predictions = {BAYES: summary["p_mean"]}
    predictions.update(predict_baselines(fit_baselines(train, spec.label, seed), test))
    return SplitResult(
        name=name,
        test_as_of=test[spec.as_of].max(),
        y=test[spec.label].astype(int).to_numpy(),
        predictions=predictions,
        n_train=len(train),
        note=note,
    )
