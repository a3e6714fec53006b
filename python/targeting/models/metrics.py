"""Classification metrics with bootstrap intervals, and the evaluation result types.

The metrics are scikit-learn's (ROC AUC, average precision, log loss, Brier score, the
quantile calibration curve), computed from one sort per sample: a bootstrap calls them
hundreds of times, and scikit-learn's per-call validation and re-sorting cost more than the
metrics themselves. ``test_evaluation`` checks them against scikit-learn's functions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

TOP_SHARES = (0.01, 0.05, 0.10, 0.20)


def expected_calibration_error(y: np.ndarray, p: np.ndarray, n_bins: int = 10) -> float:
    """Compute the expected calibration error over equal-count (quantile) bins.

    ``sum_b (n_b / n) |observed rate_b - mean prediction_b|``, with the bins of
    :func:`sklearn.calibration.calibration_curve` (``strategy="quantile"``: edges at the
    predictions' percentiles, a prediction on an inner edge in the lower bin): with a 2% base
    rate, equal-width bins would put nearly every client in the first bin. Weighted by each
    bin's share, the sum is ``sum_b |positives_b - sum of predictions_b| / n``.
    """
    y = np.asarray(y, dtype=float)
    p = np.asarray(p, dtype=float)
    edges = np.percentile(p, np.linspace(0, 100, n_bins + 1))
    bins = np.searchsorted(edges[1:-1], p)
    gap = np.bincount(bins, weights=y - p, minlength=n_bins)
    return float(np.abs(gap).sum() / len(p))


def top_share_stats(y: np.ndarray, p: np.ndarray, share: float) -> tuple[float, float]:
    """Lift and capture of the top ``share`` of clients by score (ties broken by order)."""
    return _top_share(np.asarray(y), np.argsort(-np.asarray(p), kind="stable"), share)


def _top_share(y: np.ndarray, order: np.ndarray, share: float) -> tuple[float, float]:
    """:func:`top_share_stats` given the rows ranked by score (``order``)."""
    n = max(1, int(round(share * len(y))))
    top = y[order[:n]]
    base = y.mean()
    lift = top.mean() / base if base > 0 else float("nan")
    capture = top.sum() / y.sum() if y.sum() > 0 else float("nan")
    return float(lift), float(capture)


def _ranking_metrics(y: np.ndarray, p_desc: np.ndarray, y_desc: np.ndarray) -> tuple[float, float]:
    """ROC AUC and average precision from the scores sorted high to low, as scikit-learn's.

    Tied scores form one threshold: the AUC counts a positive tied with a negative as half
    ranked above it (the trapezoid of ``roc_auc_score``), and the average precision steps
    once per distinct score (``average_precision_score``). One sort serves both, where
    scikit-learn's functions validate and sort again on each call (the bootstrap's cost).
    """
    last = np.r_[p_desc[1:] != p_desc[:-1], True]  # the last row of each distinct score
    tps = np.cumsum(y_desc)[last]
    fps = np.cumsum(1 - y_desc)[last]
    n_pos, n_neg = tps[-1], fps[-1]
    if n_pos == 0 or n_neg == 0:
        return float("nan"), float("nan")
    pos_g = np.diff(tps, prepend=0)
    neg_g = np.diff(fps, prepend=0)
    below = n_neg - fps  # negatives scored lower than the group
    auc = float(np.sum(pos_g * (below + 0.5 * neg_g)) / (n_pos * n_neg))
    ap = float(np.sum(pos_g / n_pos * (tps / (tps + fps))))
    return auc, ap


def point_metrics(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    """Every metric on one sample (each equal to scikit-learn's; see ``test_evaluation``)."""
    y = np.asarray(y)
    p = np.clip(np.asarray(p, dtype=float), 1e-9, 1 - 1e-9)
    order = np.argsort(-p, kind="stable")
    yf = y.astype(float)
    auc, ap = _ranking_metrics(yf, p[order], yf[order])
    out = {
        "roc_auc": auc,
        "pr_auc": ap,
        "log_loss": float(-np.mean(np.where(y == 1, np.log(p), np.log1p(-p)))),
        "brier": float(np.mean((p - yf) ** 2)),
        "ece": expected_calibration_error(yf, p),
        "mean_prediction": float(p.mean()),
        "positive_rate": float(yf.mean()),
    }
    for share in TOP_SHARES:
        lift, capture = _top_share(y, order, share)
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
