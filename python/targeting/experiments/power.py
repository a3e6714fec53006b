"""Power and sample size of a two-arm comparison, for rates and means (``targeting plan``).

The conventions are statsmodels' (``statsmodels.stats.power``), which a test checks:

- a rate uses Cohen's effect size ``h = 2 asin(sqrt(p_t)) - 2 asin(sqrt(p_c))`` and the
  normal test (``NormalIndPower`` with ``proportion_effectsize``);
- a mean uses ``d = mde / sd`` and the two-sample t-test (``TTestIndPower``);
- ``n_control`` is the control arm's size and ``ratio`` the treatment arm's size over it;
  tests are two-sided at ``alpha``, Bonferroni-split over the comparisons when there are
  more than two arms (the first step of the Holm correction ``targeting abtest`` applies).

Regression adjustment (:mod:`targeting.experiments.adjust`) removes the share ``r2`` of the outcome's
variance that the covariates explain, so an adjusted test has the power of an unadjusted
one with the effect size divided by ``sqrt(1 - r2)``.
"""

from __future__ import annotations

import math

from scipy import optimize, stats


class PlanError(ValueError):
    """The planning inputs are outside what the power formulas can answer."""


def effect_size(kind: str, baseline: float, mde: float, sd: float | None = None) -> float:
    """Standardised effect of an absolute difference ``mde`` at ``baseline`` (a rate or a mean)."""
    if kind == "rate":
        target = baseline + mde
        if not 0 < target < 1:
            raise PlanError(
                f"a rate of {baseline:g} plus a difference of {mde:g} is {target:g}, outside (0, 1)"
            )
        return 2 * math.asin(math.sqrt(target)) - 2 * math.asin(math.sqrt(baseline))
    assert sd is not None
    return mde / sd


def power(es: float, n_control: float, alpha: float, ratio: float, kind: str) -> float:
    """Power of the two-sided test of effect size ``es`` with ``n_control`` control units."""
    n_t = n_control * ratio
    nobs = 1 / (1 / n_control + 1 / n_t)
    nc = abs(es) * math.sqrt(nobs)
    if kind == "rate":
        crit = stats.norm.isf(alpha / 2)
        return float(stats.norm.sf(crit - nc) + stats.norm.cdf(-crit - nc))
    df = n_control + n_t - 2
    crit = stats.t.isf(alpha / 2, df)
    upper, lower = float(stats.nct.sf(crit, df, nc)), float(stats.nct.cdf(-crit, df, nc))
    # far in the tail scipy's noncentral t gives NaN where the probability is 1 or 0
    return (upper if math.isfinite(upper) else 1.0) + (lower if math.isfinite(lower) else 0.0)


def n_control(es: float, alpha: float, target: float, ratio: float, kind: str) -> float:
    """Control-arm size (not rounded) at which the test of ``es`` has power ``target``."""
    if es == 0:
        raise PlanError("a minimum detectable effect of 0 needs infinitely many units")
    hi = 4.0
    while power(es, hi, alpha, ratio, kind) < target:
        hi *= 2
        if hi > 1e13:
            raise PlanError("the effect is too small to detect with any sample size below 10 trillion")
    return float(optimize.brentq(lambda n: power(es, n, alpha, ratio, kind) - target, 2.0, hi, xtol=1e-6))


def detectable_effect(n: float, alpha: float, target: float, ratio: float, kind: str) -> float:
    """Smallest standardised effect the test detects with power ``target`` at ``n`` control units."""
    hi = 1e-3
    while power(hi, n, alpha, ratio, kind) < target:
        hi *= 2
        if hi > 64:
            raise PlanError(f"{n:g} units per arm cannot reach power {target:g} for any effect")
    return float(optimize.brentq(lambda es: power(es, n, alpha, ratio, kind) - target, 1e-12, hi, xtol=1e-12))


def effect_from_size(kind: str, baseline: float, es: float, sd: float | None = None) -> float:
    """Return the absolute difference (above ``baseline``) whose standardised effect is ``es``."""
    if kind == "rate":
        angle = math.asin(math.sqrt(baseline)) + es / 2
        if angle >= math.pi / 2:
            return float("nan")  # no rate above the baseline is that far: undetectable
        return math.sin(angle) ** 2 - baseline
    assert sd is not None
    return es * sd
