"""Uplift evaluation: Qini curves, Qini AUC, uplift in the top fraction, bootstrap intervals.

Pure functions on arrays of a held-out set: ``treated`` (bool), ``y`` (0/1 outcome) and a
``score`` to rank by (predicted uplift, or a propensity for comparison). Conventions
(Radcliffe's Qini): targeting the top ``n`` units by score gains

    Q(n) = Y_t(n) - Y_c(n) * N_t(n) / N_c(n)

incremental conversions, where ``Y`` and ``N`` count conversions and units of each arm among
the top ``n``. Curves are per unit of population (``Q(n) / N`` against ``n / N``). The Qini AUC
is the area between the curve and the straight line of random targeting (0 for a random
ranking, on average); uplift at the top ``k`` is the conversion rate of the treated minus that
of the control among the top ``k`` share.

Every metric function takes the truth first and the prediction last, as ``targeting.models.metrics``
does (``(y, p)``): ``(y, treated, score)``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def qini_curve(y: np.ndarray, treated: np.ndarray, score: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return ``x`` (share targeted, from 0) and the Qini curve ``Q(n) / N`` at each ``n``.

    Ties in ``score`` are broken by position after a stable sort of ``-score``.
    """
    order = np.argsort(-score, kind="stable")
    t = treated[order].astype(float)
    yy = y[order].astype(float)
    n_t = np.cumsum(t)
    n_c = np.cumsum(1 - t)
    y_t = np.cumsum(yy * t)
    y_c = np.cumsum(yy * (1 - t))
    with np.errstate(divide="ignore", invalid="ignore"):
        q = np.where(n_c > 0, y_t - y_c * n_t / n_c, y_t)
    n = len(score)
    x = np.concatenate([[0.0], np.arange(1, n + 1) / n])
    return x, np.concatenate([[0.0], q / n])


def qini_auc(y: np.ndarray, treated: np.ndarray, score: np.ndarray) -> float:
    """Area between the Qini curve and the random-targeting line (trapezoids)."""
    x, q = qini_curve(y, treated, score)
    random_line = x * q[-1]
    gap = q - random_line
    return float(np.sum((gap[1:] + gap[:-1]) / 2 * np.diff(x)))


def uplift_at(y: np.ndarray, treated: np.ndarray, score: np.ndarray, share: float) -> float:
    """Treated minus control conversion rate among the top ``share`` by score (nan if an arm is empty)."""
    k = max(1, int(round(share * len(score))))
    top = np.argsort(-score, kind="stable")[:k]
    t, yy = treated[top], y[top]
    if t.all() or not t.any():
        return float("nan")
    return float(yy[t].mean() - yy[~t].mean())


def bootstrap(
    stat: Callable[[np.ndarray], float],
    treated: np.ndarray,
    n_reps: int,
    seed: int,
    alpha: float = 0.10,
) -> tuple[float, float]:
    """Percentile interval of ``stat(index)`` over bootstrap resamples stratified by arm.

    ``stat`` takes an index array into the held-out set and returns a number (or nan, which
    is skipped).
    """
    rng = np.random.default_rng(seed)
    arms = [np.flatnonzero(treated), np.flatnonzero(~treated)]
    values = []
    for _ in range(n_reps):
        idx = np.concatenate([rng.choice(a, size=a.size, replace=True) for a in arms])
        values.append(stat(idx))
    values_arr = np.asarray(values, dtype=float)
    values_arr = values_arr[np.isfinite(values_arr)]
    if values_arr.size == 0:
        return float("nan"), float("nan")
    lo, hi = np.quantile(values_arr, [alpha / 2, 1 - alpha / 2])
    return float(lo), float(hi)
