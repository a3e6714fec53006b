"""Hidden client traits, their purchase process and the true 90-day purchase probability."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from targeting.data.synth.config import (
    DATA_DAYS,
    FIRST_CLIENT_ID,
    LABEL_WINDOW_DAYS,
    REAL_BUYERS,
    REAL_MESSAGE_ONLY_CLIENTS,
    SynthConfig,
)


def sigmoid(x: np.ndarray) -> np.ndarray:
    """Logistic function."""
    out: np.ndarray = 1.0 / (1.0 + np.exp(-x))
    return out


@dataclass
class Clients:
    """Hidden traits of every client (buyers first, then message-only clients)."""

    client_id: np.ndarray
    is_buyer: np.ndarray
    propensity: np.ndarray
    engagement: np.ndarray
    push_preference: np.ndarray
    price_level: np.ndarray
    registered_day: np.ndarray
    acquired_day: np.ndarray  # first purchase day; -1 for message-only clients
    dead_email: np.ndarray
    favourite_path: np.ndarray


def simulate_clients(cfg: SynthConfig, rng: np.random.Generator, n_paths: int) -> Clients:
    """Draw the hidden traits of every client."""
    eff = cfg.effects
    n_buyers = max(50, round(REAL_BUYERS * cfg.scale))
    n_other = max(10, round(REAL_MESSAGE_ONLY_CLIENTS * cfg.scale))
    n = n_buyers + n_other
    gaps = rng.integers(1, 21_000, size=n)  # ids spread like the real 19-digit range
    client_id = FIRST_CLIENT_ID + np.cumsum(gaps) - gaps[0]
    client_id = rng.permutation(client_id)
    z = rng.normal(size=n)
    rho = eff.engagement_propensity_corr
    u = rho * z + np.sqrt(1 - rho**2) * rng.normal(size=n)
    is_buyer = np.arange(n) < n_buyers
    acquired = np.where(is_buyer, rng.integers(0, DATA_DAYS + 1, size=n), -1)
    registered = np.where(
        is_buyer,
        np.maximum(0, acquired - rng.integers(0, 90, size=n)),
        rng.integers(0, DATA_DAYS - 10, size=n),
    )
    return Clients(
        client_id=client_id.astype(np.int64),
        is_buyer=is_buyer,
        propensity=z,
        engagement=u,
        push_preference=rng.beta(2.2, 1.6, size=n),
        price_level=np.exp(rng.normal(np.log(950), 0.45, size=n)),
        registered_day=registered,
        acquired_day=acquired,
        dead_email=rng.random(n) < 0.006,
        favourite_path=rng.integers(0, n_paths, size=n),
    )


def interest_integral(tau: float, floor: float, start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """Integral of floor + (1 - floor) exp(-s / tau) over s in [start, end] (days)."""
    out: np.ndarray = floor * (end - start) + (1 - floor) * tau * (np.exp(-start / tau) - np.exp(-end / tau))
    return out


def true_purchase_probability(cfg: SynthConfig, clients: Clients, cutoff_day: float) -> np.ndarray:
    """Exact probability that each buyer buys in the label window after ``cutoff_day``."""
    eff = cfg.effects
    rate = np.exp(eff.rate_intercept + eff.rate_propensity * clients.propensity)
    age = np.maximum(cutoff_day - clients.acquired_day, 0).astype(float)
    mass = interest_integral(eff.interest_tau_days, eff.interest_floor, age, age + LABEL_WINDOW_DAYS)
    p = 1 - np.exp(-rate * mass)
    return np.where(clients.is_buyer & (clients.acquired_day < cutoff_day), p, 0.0)


def simulate_repeat_orders(
    cfg: SynthConfig, clients: Clients, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Orders after acquisition up to the last data day: (client index, day)."""
    eff = cfg.effects
    tau, floor = eff.interest_tau_days, eff.interest_floor
    buyers = np.flatnonzero(clients.is_buyer)
    rate = np.exp(eff.rate_intercept + eff.rate_propensity * clients.propensity[buyers])
    horizon = (DATA_DAYS - clients.acquired_day[buyers]).astype(float)
    floor_mass = floor * horizon
    decay_mass = (1 - floor) * tau * (1 - np.exp(-horizon / tau))
    counts = rng.poisson(rate * (floor_mass + decay_mass))
    idx = np.repeat(buyers, counts)
    h = np.repeat(horizon, counts)
    total = floor_mass + decay_mass
    floor_share = np.divide(floor_mass, total, out=np.zeros_like(total), where=total > 0)
    from_floor = rng.random(idx.size) < np.repeat(floor_share, counts)
    # truncated exponential on [0, h] by inverse CDF
    q = rng.random(idx.size)
    decay_s = -tau * np.log(1 - q * (1 - np.exp(-h / tau)))
    s = np.where(from_floor, rng.random(idx.size) * h, decay_s)
    day = clients.acquired_day[idx] + np.minimum(np.floor(s).astype(int) + 1, h.astype(int))
    return idx, day
