"""Prediction from a fitted Bambi model: posterior draws, their summary, unseen group levels.

Shared by ``score``, ``evaluate`` and ``report`` (command modules do not import one another).
The fast engine for large scoring runs is :mod:`targeting.core.linpred`.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd

from targeting.core.linpred import interval_positions


def summarise_draws(p: np.ndarray) -> dict[str, np.ndarray]:
    """Posterior mean, sd and 5%/95% quantiles over draws (last axis = rows)."""
    flat = p.reshape(-1, p.shape[-1])
    n = flat.shape[0]
    lo, hi = interval_positions(n)
    part = np.partition(flat, [lo, hi], axis=0)
    return {
        "p_mean": flat.mean(axis=0),
        "p_sd": flat.std(axis=0, ddof=1) if n > 1 else np.zeros(flat.shape[1]),
        "p_q05": part[lo],
        "p_q95": part[hi],
    }


def predict_draws(model: Any, idata: Any, rows: pd.DataFrame, group_specific: bool) -> np.ndarray:
    """Posterior draws of P(label = 1) for ``rows`` with Bambi's ``predict``: (chain, draw, row)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = model.predict(
            idata,
            data=rows,
            kind="response_params",
            inplace=False,
            include_group_specific=group_specific,
        )
    name = model.family.likelihood.parent
    draws: np.ndarray = out.posterior[name].transpose("chain", "draw", ...).values
    return draws


def unseen_levels(rows: pd.DataFrame, factors: list[str], levels: dict[str, set[str]]) -> np.ndarray:
    """Rows whose level of any grouping factor was not seen in training."""
    unseen = np.zeros(len(rows), dtype=bool)
    for f in factors:
        unseen |= ~rows[f].astype(str).isin(levels[f]).to_numpy()
    return unseen


def unseen_categories(
    rows: pd.DataFrame, known: dict[str, set[str]]
) -> tuple[np.ndarray, dict[str, dict[str, int]]]:
    """Rows whose value of a fixed-effect text column was not seen in training, and those values.

    A fixed effect has no coefficient for such a value, so these rows cannot be scored.

    Returns
    -------
    tuple
        The boolean mask of such rows, and per column the unseen values with their row counts.

    """
    mask = np.zeros(len(rows), dtype=bool)
    counts: dict[str, dict[str, int]] = {}
    for col, levels in known.items():
        new = (rows[col].notna() & ~rows[col].astype(str).isin(levels)).to_numpy()
        if new.any():
            counts[col] = {str(v): int(n) for v, n in rows.loc[new, col].astype(str).value_counts().items()}
        mask |= new
    return mask, counts


def add_counts(total: dict[str, dict[str, int]], more: dict[str, dict[str, int]]) -> None:
    """Add the unseen-value counts ``more`` into ``total`` (chunk by chunk)."""
    for col, values in more.items():
        seen = total.setdefault(col, {})
        for value, n in values.items():
            seen[value] = seen.get(value, 0) + n


def describe_unseen(unseen: dict[str, dict[str, int]], top: int = 5) -> str:
    """``column: 'value' (n rows), ...`` for the most frequent unseen categories per column."""
    parts = []
    for col, counts in sorted(unseen.items()):
        shown = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:top]
        more = f" and {len(counts) - top} more" if len(counts) > top else ""
        parts.append(f"{col}: " + ", ".join(f"{v!r} ({n:,} rows)" for v, n in shown) + more)
    return "; ".join(parts)


def predict_summary(
    model: Any, idata: Any, rows: pd.DataFrame, factors: list[str], levels: dict[str, set[str]]
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Posterior summary of P(label = 1) for ``rows`` (no missing predictors).

    Rows whose level of any grouping factor was not seen in training are predicted at the
    population level (group effects left out).

    Returns
    -------
    tuple
        ``{p_mean, p_sd, p_q05, p_q95}`` arrays and the boolean "unseen level" mask.

    """
    unseen = unseen_levels(rows, factors, levels)
    summary = {k: np.empty(len(rows)) for k in ("p_mean", "p_sd", "p_q05", "p_q95")}
    for mask, group_specific in ((~unseen, True), (unseen, False)):
        if mask.any():
            p = predict_draws(model, idata, rows[mask], group_specific)
            for k, v in summarise_draws(p).items():
                summary[k][mask] = v
    return summary, unseen
