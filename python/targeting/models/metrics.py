"""Classification metrics with bootstrap intervals (scikit-learn), and the evaluation result types."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.calibration import calibration_curve
from sklearn.metrics import average_precision_score, brier_score_loss, log_loss, roc_auc_score

TOP_SHARES = (0.01, 0.05, 0.10, 0.20)


def expected_calibration_error(y: np.ndarray, p: np.ndarray, n_bins: int = 10) -> float:
    """Compute the expected calibration error over equal-count (quantile) bins.

    ``sum_b (n_b / n) |observed rate_b - mean prediction_b|``, with the bins and per-bin
    rates from :func:`sklearn.calibration.calibration_curve` (``strategy="quantile"``):
    with a 2% base rate, equal-width bins would put nearly every client in the first bin.
    """
    prob_true, prob_pred = calibration_curve(y, p, n_bins=n_bins, strategy="quantile")
    edges = np.unique(np.percentile(p, np.linspace(0, 100, n_bins + 1)))
    counts = np.bincount(np.searchsorted(edges[1:-1], p, side="right"), minlength=len(edges) - 1)
    counts = counts[counts > 0]
    if len(counts) != len(prob_true):  # ties collapsed a bin differently: fall back to equal weights
        counts = np.full(len(prob_true), len(p) / len(prob_true))
    return float(np.sum(counts / counts.sum() * np.abs(prob_true - prob_pred)))


def top_share_stats(y: np.ndarray, p: np.ndarray, share: float) -> tuple[float, float]:
    """Lift and capture of the top ``share`` of clients by score (ties broken by order)."""
    n = max(1, int(round(share * len(y))))
    top = np.argsort(-p, kind="stable")[:n]
    base = y.mean()
    hit = y[top].mean()
    lift = hit / base if base > 0 else float("nan")
    capture = y[top].sum() / y.sum() if y.sum() > 0 else float("nan")
    return float(lift), float(capture)


def point_metrics(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    """Every metric on one sample."""
    p = np.clip(p, 1e-9, 1 - 1e-9)
    out = {
        "roc_auc": float(roc_auc_score(y, p)),
        "pr_auc": float(average_precision_score(y, p)),
        "log_loss": float(log_loss(y, p, labels=[0, 1])),
        "brier": float(brier_score_loss(y, p)),
        "ece": expected_calibration_error(y, p),
        "mean_prediction": float(p.mean()),
        "positive_rate": float(y.mean()),
    }
    for share in TOP_SHARES:
        lift, capture = top_share_stats(y, p, share)
        pct = int(round(share * 100))
        out[f"lift_at_{pct}pct"] = lift
        out[f"capture_at_{pct}pct"] = capture
    return out


@dataclass(frozen=True)
class MetricValue:
    """A metric with its bootstrap interval."""

    value: float
    lower: float
    upper: float


def metrics_with_intervals(
    y: np.ndarray, p: np.ndarray, n_boot: int = 200, seed: int = 0, level: float = 0.9
) -> dict[str, MetricValue]:
    """Point metrics with percentile bootstrap intervals over rows.

    Parameters
    ----------
    y, p
        0/1 labels and predicted probabilities.
    n_boot
        Bootstrap resamples (0 for none: the interval is the point value).
    seed
        Seed of the resampling.
    level
        Interval coverage (default 90%).

    """
    y = np.asarray(y, dtype=int)
    p = np.asarray(p, dtype=float)
    point = point_metrics(y, p)
    if n_boot <= 0:
        return {k: MetricValue(v, v, v) for k, v in point.items()}
    rng = np.random.default_rng(seed)
    draws: dict[str, list[float]] = {k: [] for k in point}
    for _ in range(n_boot):
        idx = rng.integers(0, len(y), len(y))
        if y[idx].min() == y[idx].max():
            continue
        for k, v in point_metrics(y[idx], p[idx]).items():
            draws[k].append(v)
    alpha = (1 - level) / 2
    out = {}
    for k, v in point.items():
        arr = np.asarray(draws[k], dtype=float)
        arr = arr[np.isfinite(arr)]
        lo, hi = np.quantile(arr, [alpha, 1 - alpha]) if arr.size else (v, v)
        out[k] = MetricValue(v, float(lo), float(hi))
    return out


BAYES = "bayesian"
BASELINES = ("rule_recency_frequency", "logistic_regression", "gradient_boosting")


@dataclass
class SplitResult:
    """Predictions of every model on one split's test rows."""

    name: str
    test_as_of: Any
    y: np.ndarray
    predictions: dict[str, np.ndarray]
    n_train: int
    note: str = ""


@dataclass
class EvaluationResult:
    """Everything ``evaluate`` computed."""

    run_id: str
    splits: list[SplitResult]
    table: pd.DataFrame
    seconds: float


def summary_table(
    table: pd.DataFrame,
    metrics: tuple[str, ...] = ("roc_auc", "pr_auc", "log_loss", "brier", "ece", "lift_at_10pct"),
) -> pd.DataFrame:
    """One row per (split, model) with ``value [lower, upper]`` per metric."""
    t = table[table["metric"].isin(metrics)].copy()
    t["cell"] = t.apply(lambda r: f"{r['value']:.3f} [{r['lower']:.3f}, {r['upper']:.3f}]", axis=1)
    wide = t.pivot_table(index=["split", "model"], columns="metric", values="cell", aggfunc="first")
    return wide[[m for m in metrics if m in wide.columns]].reset_index()
