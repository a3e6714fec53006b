"""Finite, estimable inputs: the checks every command applies the same way.

A command that compares arms or fits a model refuses, before any estimate, with one line
naming the source, the column and the count:

- numbers that are not finite (``inf``, ``-inf``): :func:`check_finite`;
- an outcome with one value on every row (all 0, all 1, a constant amount): :func:`check_varies`;
- an arm with fewer than :data:`MIN_ARM_UNITS` units: :func:`check_arm_sizes`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np
import pandas as pd

#: Fewest units an arm needs: with one, no spread (and no interval) can be estimated.
MIN_ARM_UNITS = 2
#: Most posterior draws a command takes (each is a float per arm and metric in memory).
MAX_DRAWS = 1_000_000


class EstimabilityError(ValueError):
    """The input holds values no estimate can be made from."""


def check_finite(frame: pd.DataFrame, columns: Mapping[str, str], label: str) -> None:
    """Refuse ``inf`` or ``-inf`` in any of ``columns`` (frame column to the user's column name).

    Parameters
    ----------
    frame
        The rows read.
    columns
        Frame column -> the name the user knows it by; only numeric columns are checked.
    label
        The source (file or relation), for the message.

    Raises
    ------
    EstimabilityError
        Naming the column, how many rows hold a non-finite number, and one such value.

    """
    for col, name in columns.items():
        if not pd.api.types.is_numeric_dtype(frame[col]):
            continue  # a text column is a category: its value 'inf' is a level, not a number
        values = frame[col].to_numpy(dtype=float, na_value=np.nan)
        bad = np.isinf(values)
        if bad.any():
            raise EstimabilityError(
                f"{label}: column {name!r} holds {int(bad.sum()):,} infinite value(s) "
                f"(e.g. {values[bad][0]}); expected finite numbers"
            )


def check_varies(values: Iterable[float] | np.ndarray, name: str, label: str, what: str = "outcome") -> None:
    """Refuse an outcome with the same value on every row (nothing to compare or model).

    Raises
    ------
    EstimabilityError
        Naming the column, the value and the row count.

    """
    y = np.asarray(list(values) if not isinstance(values, np.ndarray) else values, dtype=float)
    y = y[~np.isnan(y)]
    if y.size and np.all(y == y[0]):
        shown = int(y[0]) if float(y[0]).is_integer() else float(y[0])
        raise EstimabilityError(
            f"{label}: {what} {name!r} is {shown} on all {y.size:,} rows; "
            "an estimate needs outcomes that vary"
        )


def check_arm_sizes(counts: Mapping[str, int], arm_column: str, label: str) -> None:
    """Refuse an arm with fewer than :data:`MIN_ARM_UNITS` units (no spread can be estimated)."""
    small = {arm: int(n) for arm, n in counts.items() if int(n) < MIN_ARM_UNITS}
    if small:
        arm, n = next(iter(sorted(small.items())))
        raise EstimabilityError(
            f"{label}: arm {arm!r} of column {arm_column!r} has {n} unit(s); "
            f"each arm needs at least {MIN_ARM_UNITS} to estimate a spread"
        )


def check_draws(draws: int, option: str = "--draws") -> None:
    """Refuse a posterior draw count above :data:`MAX_DRAWS` (memory) or below 1,000 (noise)."""
    if not 1000 <= draws <= MAX_DRAWS:
        raise EstimabilityError(f"{option} must be from 1,000 to {MAX_DRAWS:,}, got {draws:,}")
