"""Regression adjustment of an experiment's difference (CUPED and its multi-covariate form).

Covariates measured before the assignment (last quarter's orders, spend, visits) are
independent of the arm a unit was randomised to, so subtracting the part of the outcome
they predict leaves the difference between arms unbiased and removes their share of its
variance (Deng, Xu, Kohavi and Walker, 2013; with several covariates it is the regression
estimator with a common slope, Lin 2013 without the interactions).

The slopes ``theta`` are those of one least-squares fit of the outcome on the covariates
with each arm's mean removed (a regression with arm indicators), over the two arms
compared. Each unit's adjusted outcome is ``y - (x - mean(x)) @ theta``; the adjusted
difference and its interval are Welch's on the adjusted outcomes. The variance reduction
is ``1 - se_adjusted**2 / se_unadjusted**2``, both unpooled standard errors.

A missing covariate value is filled with the covariate's mean over the units read, and an
indicator column (1 where it was missing) joins the covariates: both are functions of
pre-assignment data only, so the estimate stays unbiased.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from targeting.experiments.abstats import unpooled_se


@dataclass(frozen=True)
class Adjusted:
    """The regression-adjusted difference of one treatment arm against the control."""

    diff: float
    se: float
    lower: float
    upper: float
    p_value: float
    variance_reduction: float


def adjusted_fields(adj: Adjusted | None) -> dict[str, object]:
    """Return the result-table fields of an adjusted difference (none without one)."""
    if adj is None:
        return {}
    return {
        "adj_diff": adj.diff,
        "adj_diff_se": adj.se,
        "adj_diff_lower": adj.lower,
        "adj_diff_upper": adj.upper,
        "adj_p_value": adj.p_value,
        "variance_reduction": adj.variance_reduction,
    }


def covariate_matrix(frame: pd.DataFrame, covariates: list[str]) -> np.ndarray:
    """Return the covariates as a float matrix, missing values filled and flagged.

    Parameters
    ----------
    frame
        One row per unit, holding the covariate columns (numbers, maybe missing).
    covariates
        The columns to use, in order.

    Returns
    -------
    numpy.ndarray
        ``n x k`` matrix: each covariate with a missing value replaced by its mean over the
        rows, then one 0/1 column per covariate that had a missing value.

    """
    columns: list[np.ndarray] = []
    flags: list[np.ndarray] = []
    for name in covariates:
        x = frame[name].to_numpy(dtype=float)
        missing = np.isnan(x)
        if missing.any():
            fill = float(np.nanmean(x)) if (~missing).any() else 0.0
            x = np.where(missing, fill, x)
            flags.append(missing.astype(float))
        columns.append(x)
    return np.column_stack([*columns, *flags]) if columns else np.empty((len(frame), 0))


def slopes(y: list[np.ndarray], x: list[np.ndarray]) -> np.ndarray:
    """Least-squares slopes of the outcome on the covariates, each arm's mean removed.

    Collinear or constant covariates get the minimum-norm solution (a constant one gets 0).
    """
    yc = np.concatenate([a - a.mean() for a in y])
    xc = np.vstack([b - b.mean(axis=0) for b in x])
    theta: np.ndarray = np.linalg.lstsq(xc, yc, rcond=None)[0]
    return theta


def adjusted_difference(
    y_t: np.ndarray, x_t: np.ndarray, y_c: np.ndarray, x_c: np.ndarray, alpha: float
) -> Adjusted:
    """Regression-adjusted difference (treatment minus control) with Welch's interval.

    Parameters
    ----------
    y_t, y_c
        The outcome of each unit of the treatment and the control arm.
    x_t, x_c
        Their covariate matrices (:func:`covariate_matrix`), same columns.
    alpha
        One minus the interval's level.

    Returns
    -------
    Adjusted
        The adjusted difference, its standard error, interval, p-value and the variance
        reduction against the unadjusted difference of means.

    """
    theta = slopes([y_t, y_c], [x_t, x_c])
    centre = np.vstack([x_t, x_c]).mean(axis=0)
    a_t = y_t - (x_t - centre) @ theta
    a_c = y_c - (x_c - centre) @ theta
    n_t, n_c = len(a_t), len(a_c)
    v_t, v_c = np.var(a_t, ddof=1) / n_t, np.var(a_c, ddof=1) / n_c
    se = float(np.sqrt(v_t + v_c))
    raw = unpooled_se(y_t, y_c) ** 2
    diff = float(a_t.mean() - a_c.mean())
    if not se > 0:
        return Adjusted(diff, se, diff, diff, float("nan"), float("nan"))
    df = (v_t + v_c) ** 2 / (v_t**2 / (n_t - 1) + v_c**2 / (n_c - 1))
    half = float(stats.t.ppf(1 - alpha / 2, df)) * se
    p_value = float(2 * stats.t.sf(abs(diff) / se, df))
    reduction = float(1 - se**2 / raw) if raw > 0 else float("nan")
    return Adjusted(diff, se, diff - half, diff + half, p_value, reduction)


def explained_share(y: np.ndarray, x: np.ndarray) -> float:
    """Share of the outcome's variance the covariates explain (R squared of one fit with intercept).

    What regression adjustment takes off the variance of a difference of means, used by
    ``targeting plan`` to size an adjusted experiment.
    """
    if x.shape[1] == 0 or len(y) < 3:
        return 0.0
    theta = slopes([y], [x])
    resid = (y - y.mean()) - (x - x.mean(axis=0)) @ theta
    total = float(np.var(y))
    return float(max(0.0, 1 - np.var(resid) / total)) if total > 0 else 0.0
