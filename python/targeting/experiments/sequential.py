"""Sequential testing: always-valid p-values and confidence sequences (mixture SPRT).

A fixed-sample p-value assumes one look at a planned sample size; looking every day and
stopping at the first p < alpha makes false positives several times likelier. The mixture
sequential probability ratio test (Robbins 1970; Johari, Pekelis and Walsh, "Always valid
inference", 2017; the test Optimizely and others run) stays valid under any number of looks.

With an estimate ``d`` of the difference and its variance ``v = se**2`` at a look (normal
approximation), and a normal mixture ``N(0, tau**2)`` over the true difference, the
likelihood ratio against "no difference" is::

    Lambda = sqrt(v / (v + tau2)) * exp(tau2 * d**2 / (2 * v * (v + tau2)))

By Ville's inequality ``P(Lambda ever >= 1 / alpha) <= alpha`` under the null, so:

- the always-valid p-value after looks 1..n is ``min(1, min_k 1 / Lambda_k)``;
- the confidence sequence at each look is ``d +- sqrt(v (v + tau2) / tau2 *
  (log((v + tau2) / v) - 2 log(alpha)))``, intersected over the looks so far; it holds the
  true difference at every look at once with probability ``1 - alpha``.

``tau`` sets where the test is most powerful: near an effect of the size of ``tau``. It is
a scale fixed before the data (a share of the metric's standard deviation per unit), not
an estimate of the effect.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Default mixture scale, in standard deviations of the metric per unit.
DEFAULT_TAU = 0.05


@dataclass(frozen=True)
class Sequential:
    """The always-valid result after every look so far."""

    p_value: float
    lower: float
    upper: float
    looks: int


def mixture_sprt(
    diff: np.ndarray, se: np.ndarray, tau: float, alpha: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One look's mSPRT p-value (``1 / Lambda``, capped at 1) and confidence-sequence bounds.

    Parameters
    ----------
    diff, se
        The estimated difference and its standard error at each look (arrays or scalars).
    tau
        Standard deviation of the normal mixture over the true difference (> 0).
    alpha
        One minus the confidence level.

    Returns
    -------
    tuple of numpy.ndarray
        ``p``, ``lower`` and ``upper`` at each look (not yet combined over looks).

    """
    d, v = np.asarray(diff, dtype=float), np.asarray(se, dtype=float) ** 2
    t2 = float(tau) ** 2
    log_lambda = 0.5 * np.log(v / (v + t2)) + t2 * d**2 / (2 * v * (v + t2))
    p = np.minimum(1.0, np.exp(-log_lambda))
    half = np.sqrt(v * (v + t2) / t2 * (np.log((v + t2) / v) - 2 * np.log(alpha)))
    return p, d - half, d + half


def always_valid(diff: np.ndarray, se: np.ndarray, tau: float, alpha: float) -> Sequential:
    """Combine the looks in order: the running minimum p and the running intersection.

    Looks whose standard error is not a positive number (too few units yet) are skipped.
    """
    d, s = np.atleast_1d(np.asarray(diff, dtype=float)), np.atleast_1d(np.asarray(se, dtype=float))
    ok = np.isfinite(d) & np.isfinite(s) & (s > 0)
    if not ok.any():
        return Sequential(float("nan"), float("nan"), float("nan"), 0)
    p, lo, hi = mixture_sprt(d[ok], s[ok], tau, alpha)
    return Sequential(float(p.min()), float(lo.max()), float(hi.min()), int(ok.sum()))
