"""A/B test statistics: frequentist tests, Bayesian posteriors, ratio metrics, sample-ratio checks.

Pure functions on per-arm arrays; ``targeting abtest`` (abtest.py) reads the data and writes
the results. Conventions: every comparison is a treatment arm against the control arm;
``diff`` is treatment minus control, ``lift`` is diff over the control's value; intervals
are two-sided at ``1 - alpha`` (90% by default, as elsewhere in the project).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

ALPHA = 0.10


@dataclass(frozen=True)
class Comparison:
    """One treatment arm against the control on one metric (frequentist)."""

    diff: float
    diff_lower: float
    diff_upper: float
    lift: float
    p_value: float
    test: str
    se: float = float("nan")


def unpooled_se(y_t: np.ndarray, y_c: np.ndarray) -> float:
    """Unpooled standard error of a difference of two means: sqrt(var_t / n_t + var_c / n_c)."""
    return float(np.sqrt(np.var(y_t, ddof=1) / len(y_t) + np.var(y_c, ddof=1) / len(y_c)))


def two_proportions(x_t: int, n_t: int, x_c: int, n_c: int, alpha: float = ALPHA) -> Comparison:
    """Two-proportion z-test (pooled standard error) with a Wald interval for the difference.

    The z statistic squared equals the Pearson chi-square of the 2x2 table without continuity
    correction, which a test checks against ``scipy.stats.chi2_contingency``.
    """
    p_t, p_c = x_t / n_t, x_c / n_c
    pooled = (x_t + x_c) / (n_t + n_c)
    se_pooled = np.sqrt(pooled * (1 - pooled) * (1 / n_t + 1 / n_c))
    z = (p_t - p_c) / se_pooled if se_pooled > 0 else 0.0
    p_value = float(2 * stats.norm.sf(abs(z)))
    se = np.sqrt(p_t * (1 - p_t) / n_t + p_c * (1 - p_c) / n_c)
    half = stats.norm.ppf(1 - alpha / 2) * se
    diff = p_t - p_c
    return Comparison(
        diff, diff - half, diff + half, diff / p_c if p_c else np.nan, p_value, "two-proportion z", float(se)
    )


def welch(y_t: np.ndarray, y_c: np.ndarray, alpha: float = ALPHA) -> Comparison:
    """Welch's t-test for a difference of means, with the Welch-Satterthwaite interval."""
    res = stats.ttest_ind(y_t, y_c, equal_var=False)
    ci = res.confidence_interval(confidence_level=1 - alpha)
    diff = float(np.mean(y_t) - np.mean(y_c))
    mean_c = float(np.mean(y_c))
    se = unpooled_se(y_t, y_c)
    return Comparison(
        diff,
        float(ci.low),
        float(ci.high),
        diff / mean_c if mean_c else np.nan,
        float(res.pvalue),
        "Welch t",
        se,
    )


def ratio_delta(num: np.ndarray, den: np.ndarray) -> tuple[float, float]:
    """Ratio of sums ``sum(num) / sum(den)`` and its delta-method standard error (per-user rows)."""
    n = len(num)
    mean_num, mean_den = float(np.mean(num)), float(np.mean(den))
    if mean_den == 0:
        return np.nan, np.nan
    ratio = mean_num / mean_den
    var_num, var_den = np.var(num, ddof=1), np.var(den, ddof=1)
    cov = np.cov(num, den, ddof=1)[0, 1]
    var = (var_num - 2 * ratio * cov + ratio**2 * var_den) / (mean_den**2 * n)
    return ratio, float(np.sqrt(max(var, 0.0)))


def ratio_comparison(
    num_t: np.ndarray, den_t: np.ndarray, num_c: np.ndarray, den_c: np.ndarray, alpha: float = ALPHA
) -> Comparison:
    """Difference of two ratio metrics (delta method, arms independent) with a z-test."""
    r_t, se_t = ratio_delta(num_t, den_t)
    r_c, se_c = ratio_delta(num_c, den_c)
    diff, se = r_t - r_c, float(np.hypot(se_t, se_c))
    if not np.isfinite(se) or se == 0:
        return Comparison(diff, np.nan, np.nan, diff / r_c if r_c else np.nan, np.nan, "delta method z", se)
    half = stats.norm.ppf(1 - alpha / 2) * se
    p_value = float(2 * stats.norm.sf(abs(diff) / se))
    return Comparison(
        diff, diff - half, diff + half, diff / r_c if r_c else np.nan, p_value, "delta method z", se
    )


def holm(p_values: np.ndarray) -> np.ndarray:
    """Holm's step-down adjustment (family-wise error) of a vector of p-values; NaN stays NaN."""
    p = np.asarray(p_values, dtype=float)
    out = np.full_like(p, np.nan)
    ok = np.flatnonzero(np.isfinite(p))
    order = ok[np.argsort(p[ok], kind="stable")]
    m = len(order)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[i]))
        out[i] = running
    return out


def sample_ratio_mismatch(counts: np.ndarray, planned: np.ndarray) -> float:
    """Chi-square goodness-of-fit p-value of the arm counts against the planned shares."""
    counts = np.asarray(counts, dtype=float)
    expected = np.asarray(planned, dtype=float) / np.sum(planned) * counts.sum()
    return float(stats.chisquare(counts, expected).pvalue)


@dataclass(frozen=True)
class BayesArm:
    """Posterior summary of one arm on one metric."""

    mean: float
    lower: float
    upper: float
    prob_best: float
    expected_loss: float
    lift_lower: float
    lift_upper: float
    prob_beats_control: float


def posterior_draws_binary(successes: int, n: int, rng: np.random.Generator, draws: int) -> np.ndarray:
    """Draws of a conversion rate: Beta(1 + successes, 1 + failures) (uniform prior)."""
    return rng.beta(1 + successes, 1 + n - successes, size=draws)


def posterior_draws_mean(y: np.ndarray, rng: np.random.Generator, draws: int) -> np.ndarray:
    """Draws of a mean under the reference (Jeffreys) prior: mean + sd / sqrt(n) x Student t(n - 1)."""
    n = len(y)
    t: np.ndarray = rng.standard_t(n - 1, size=draws)
    return float(np.mean(y)) + float(np.std(y, ddof=1)) / float(np.sqrt(n)) * t


def bayes_summary(draws: dict[str, np.ndarray], control: str, alpha: float = ALPHA) -> dict[str, BayesArm]:
    """Credible intervals, probability to be best, expected loss and lift against the control.

    ``draws`` holds one array of posterior draws per arm (same length); higher is better.
    Expected loss of choosing an arm is E[max over arms - that arm].
    """
    arms = list(draws)
    matrix = np.vstack([draws[a] for a in arms])
    best = matrix.max(axis=0)
    winner = matrix.argmax(axis=0)
    q = [alpha / 2, 1 - alpha / 2]
    out = {}
    for i, arm in enumerate(arms):
        lift = matrix[i] / draws[control] - 1
        lo, hi = np.quantile(matrix[i], q)
        lift_lo, lift_hi = np.quantile(lift, q)
        out[arm] = BayesArm(
            mean=float(matrix[i].mean()),
            lower=float(lo),
            upper=float(hi),
            prob_best=float(np.mean(winner == i)),
            expected_loss=float(np.mean(best - matrix[i])),
            lift_lower=float(lift_lo),
            lift_upper=float(lift_hi),
            prob_beats_control=float(np.mean(matrix[i] > draws[control])),
        )
    return out
