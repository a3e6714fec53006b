"""Partial pooling of per-group effect estimates: the normal hierarchical model.

Each group (campaign) ``j`` has an estimated effect ``y_j`` (treatment minus control) with
standard error ``s_j``. The model (Gelman et al., *Bayesian Data Analysis*, 3rd ed., 5.4)::

    y_j ~ Normal(theta_j, s_j)        the estimate around the group's true effect
    theta_j ~ Normal(mu, tau)         group effects around the population mean effect
    mu ~ Normal(0, prior_scale)
    tau ~ HalfNormal(prior_scale / 2)

Given ``tau`` everything is conjugate, so the posterior is computed exactly on a fine grid
of ``tau`` (its marginal posterior has a closed form) and drawn from by composition:
``tau`` from the grid, ``mu | tau`` and ``theta | mu, tau`` from their normal conditionals.
No MCMC, so no divergences and no tuning: the answer is the model's, up to Monte Carlo error
of the draws (seeded). ``prior_scale`` should be the outcome's standard deviation, so the
priors are weak: a campaign that moves the mean by a whole standard deviation is extreme.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Grid points of tau between 0 and 6 prior standard deviations (where the prior is ~1e-8).
TAU_GRID = 4000


@dataclass(frozen=True)
class PooledEffects:
    """Posterior summaries of the hierarchical model, intervals equal-tailed at ``1 - alpha``."""

    theta_mean: np.ndarray
    theta_lower: np.ndarray
    theta_upper: np.ndarray
    theta_prob_positive: np.ndarray
    mu_mean: float
    mu_lower: float
    mu_upper: float
    mu_prob_positive: float
    tau_mean: float
    tau_lower: float
    tau_upper: float
    new_lower: float
    new_upper: float


def tau_posterior(
    y: np.ndarray, se: np.ndarray, prior_scale: float, grid: int = TAU_GRID
) -> tuple[np.ndarray, np.ndarray]:
    """Return the grid of ``tau`` and its normalised posterior weights.

    Parameters
    ----------
    y, se
        Per-group estimates and their standard errors (``se > 0``).
    prior_scale
        Standard deviation of the prior of ``mu``; ``tau``'s half-normal has half of it.
    grid
        Number of grid points.

    Returns
    -------
    tuple of numpy.ndarray
        ``tau`` values and weights summing to 1.

    """
    tau_scale = prior_scale / 2
    tau = np.linspace(0.0, 6 * tau_scale, grid)
    var = se[None, :] ** 2 + tau[:, None] ** 2  # (grid, groups)
    precision = 1 / prior_scale**2 + (1 / var).sum(axis=1)
    mu_hat = (y[None, :] / var).sum(axis=1) / precision
    log_post = (
        -0.5 * (tau / tau_scale) ** 2
        - 0.5 * np.log(precision)
        - 0.5 * np.log(var).sum(axis=1)
        - 0.5 * ((y[None, :] - mu_hat[:, None]) ** 2 / var).sum(axis=1)
        - 0.5 * mu_hat**2 / prior_scale**2
    )
    weights = np.exp(log_post - log_post.max())
    return tau, weights / weights.sum()


def partial_pooling(
    y: np.ndarray,
    se: np.ndarray,
    prior_scale: float,
    alpha: float = 0.10,
    draws: int = 20_000,
    seed: int = 1,
) -> PooledEffects:
    """Posterior of the group effects, their mean and spread under the normal hierarchy.

    Parameters
    ----------
    y, se
        Per-group estimates and standard errors; a zero standard error is raised to a
        millionth of ``prior_scale`` so the arithmetic stays finite.
    prior_scale
        The outcome's standard deviation (see the module docstring); must be positive.
    alpha
        Intervals are equal-tailed at ``1 - alpha``.
    draws
        Posterior draws.
    seed
        Seed of the draws.

    Returns
    -------
    PooledEffects
        Per-group ``theta``, the population mean ``mu``, the spread ``tau`` and the interval
        of a new group's effect.

    """
    y = np.asarray(y, dtype=float)
    se = np.maximum(np.asarray(se, dtype=float), prior_scale * 1e-6)
    if y.size == 0 or not prior_scale > 0:
        raise ValueError("partial pooling needs at least one group and a positive prior scale")
    rng = np.random.default_rng(seed)
    tau_grid, weights = tau_posterior(y, se, prior_scale)
    step = tau_grid[1] - tau_grid[0]
    # a draw from the grid cell, spread uniformly inside it (tau >= 0)
    tau = np.abs(
        tau_grid[rng.choice(tau_grid.size, size=draws, p=weights)] + step * (rng.random(draws) - 0.5)
    )
    var = se[None, :] ** 2 + tau[:, None] ** 2
    precision = 1 / prior_scale**2 + (1 / var).sum(axis=1)
    mu = rng.normal((y[None, :] / var).sum(axis=1) / precision, 1 / np.sqrt(precision))
    shrink = tau[:, None] ** 2 / var  # 0: all the way to mu, 1: the group's own estimate
    theta = rng.normal(mu[:, None] + shrink * (y[None, :] - mu[:, None]), np.sqrt(shrink * se[None, :] ** 2))
    new = rng.normal(mu, tau)
    q = [alpha / 2, 1 - alpha / 2]
    t_lo, t_hi = np.quantile(theta, q, axis=0)
    return PooledEffects(
        theta_mean=theta.mean(axis=0),
        theta_lower=t_lo,
        theta_upper=t_hi,
        theta_prob_positive=(theta > 0).mean(axis=0),
        mu_mean=float(mu.mean()),
        mu_lower=float(np.quantile(mu, q[0])),
        mu_upper=float(np.quantile(mu, q[1])),
        mu_prob_positive=float((mu > 0).mean()),
        tau_mean=float(tau.mean()),
        tau_lower=float(np.quantile(tau, q[0])),
        tau_upper=float(np.quantile(tau, q[1])),
        new_lower=float(np.quantile(new, q[0])),
        new_upper=float(np.quantile(new, q[1])),
    )
