"""One missing-value policy for every command: drop the row, or impute with a missing indicator.

A spec names it under ``missing``::

    missing: drop                     # every column: a row missing one is dropped (the default)

    missing:
      default: drop                   # columns not listed below
      columns:
        spend: median                 # the training rows' median, plus an indicator column
        visits: 0                     # a constant (any finite number), plus an indicator
        region: level                 # text: missing becomes its own level "(missing)"

Rules: ``drop``, ``median``, ``mean``, a number (numeric columns), ``level`` (text columns).
The value is learnt on the rows a model is fitted on (each fold's training rows in
cross-validation, the training half in uplift) and applied unchanged to every row scored
or tested, by both scoring engines. An imputed numeric column that has missing values in
those rows gets an indicator column ``<column>__missing`` (1 where the value was missing),
which enters the model as one more term; one without missing values there gets no indicator
(a constant column has no effect to estimate), and its later missing values take the value.
Rows dropped are counted and reported by every command.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

RULES = ("drop", "median", "mean", "level")
#: Suffix of a missing indicator's column name.
INDICATOR = "__missing"
#: The level a missing text value becomes under the ``level`` rule.
MISSING_LEVEL = "(missing)"


class MissingPolicyError(ValueError):
    """A ``missing`` entry of a spec is malformed or does not suit its column."""


Rule = str | float


@dataclass(frozen=True)
class MissingPolicy:
    """What to do with a missing value, per column (``default`` for the columns not listed)."""

    default: Rule = "drop"
    columns: dict[str, Rule] = field(default_factory=dict)

    def rule(self, column: str) -> Rule:
        """Return the rule of ``column``."""
        return self.columns.get(column, self.default)

    def dropped(self, columns: list[str], frame: pd.DataFrame | None = None) -> list[str]:
        """Return the ``columns`` whose missing values drop the row.

        With ``frame``, a column whose rule does not suit its type under the default drops
        too (:func:`learn` leaves it unimputed): only ``level`` imputes text, and ``level``
        imputes no number.
        """
        out = []
        for c in columns:
            rule = self.rule(c)
            if rule == "drop":
                out.append(c)
            elif frame is not None and c in frame.columns and _is_text(frame[c]) != (rule == "level"):
                out.append(c)
        return out

    def to_dict(self) -> dict[str, Any]:
        """Return the policy as the mapping a spec writes."""
        return {"default": self.default, "columns": dict(self.columns)}


def _rule(value: Any, where: str) -> Rule:
    if isinstance(value, str) and value in RULES:
        return value
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    raise MissingPolicyError(
        f"{where} is {value!r}; expected one of {list(RULES)} or a finite number (a constant to impute)"
    )


def parse_missing(raw: Any, where: str, default: Rule = "drop") -> MissingPolicy:
    """Validate a spec's ``missing`` entry.

    Parameters
    ----------
    raw
        The value of the ``missing`` key (``None`` when absent).
    where
        The spec's path, for messages.
    default
        The rule when the key is absent (``drop`` for models and uplift).

    Raises
    ------
    MissingPolicyError
        Naming the file, the key and the value.

    """
    if raw is None:
        return MissingPolicy(default)
    if not isinstance(raw, dict):
        return MissingPolicy(_rule(raw, f"{where}: missing"))
    unknown = sorted(set(map(str, raw)) - {"default", "columns"})
    if unknown:
        raise MissingPolicyError(
            f"{where}: missing has unknown key {unknown[0]!r}; expected default and columns"
        )
    columns = raw.get("columns") or {}
    if not isinstance(columns, dict) or not all(isinstance(c, str) and c for c in columns):
        raise MissingPolicyError(f"{where}: missing.columns must map column names to rules, got {columns!r}")
    rules = {c: _rule(v, f"{where}: missing.columns.{c}") for c, v in columns.items()}
    return MissingPolicy(_rule(raw.get("default", default), f"{where}: missing.default"), rules)


def check_listed(policy: MissingPolicy, columns: list[str], where: str) -> None:
    """Refuse a ``missing.columns`` entry for a column the spec does not use (a typo, most often)."""
    listed = [c for c in policy.columns if c not in columns]
    if listed:
        raise MissingPolicyError(
            f"{where}: missing.columns names {listed[0]!r}, which the spec does not use; it uses {columns}"
        )


def _is_text(series: pd.Series) -> bool:
    return not (pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series))


@dataclass(frozen=True)
class Imputation:
    """A policy learnt on training rows: the value of each imputed column and its indicators.

    ``values`` maps a numeric column to its float and a text column to :data:`MISSING_LEVEL`;
    ``indicators`` lists the numeric columns given a ``<column>__missing`` column.
    """

    values: dict[str, float | str] = field(default_factory=dict)
    indicators: tuple[str, ...] = ()

    def apply(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Return ``frame`` with the imputed columns filled and the indicator columns added."""
        if not self.values:
            return frame
        out = frame.copy()
        for column in self.indicators:
            out[column + INDICATOR] = out[column].isna().astype(np.int8)
        for column, value in self.values.items():
            if column in out.columns:
                if isinstance(value, str):
                    out[column] = out[column].astype("object").where(out[column].notna(), value)
                else:
                    out[column] = out[column].astype("float64").fillna(value)
        return out

    def terms(self) -> list[str]:
        """Return the indicator columns, the terms the model gains."""
        return [c + INDICATOR for c in self.indicators]

    def sql_columns(self, columns: list[str], quote: Callable[[str], str], number: Callable[[float], str],
                    text: Callable[[str], str]) -> list[str]:  # fmt: skip
        """Return SQL select items giving ``columns`` imputed and the indicators, by name.

        ``quote`` quotes an identifier, ``number`` and ``text`` write literals (the scoring
        statement's own writers: nothing from the spec is pasted as text).
        """
        items = []
        for column in columns:
            q = quote(column)
            value = self.values.get(column)
            if value is None:
                items.append(q)
            elif isinstance(value, str):
                items.append(f"coalesce(cast({q} as string), {text(value)}) as {q}")
            else:
                items.append(f"coalesce(cast({q} as double), {number(value)}) as {q}")
        for column in self.indicators:
            items.append(
                f"case when {quote(column)} is null then 1 else 0 end as {quote(column + INDICATOR)}"
            )
        return items

    def to_dict(self) -> dict[str, Any]:
        """Return the imputation for the run record."""
        return {"values": dict(self.values), "indicators": list(self.indicators)}

    @classmethod
    def from_dict(cls, raw: dict[str, Any] | None) -> Imputation:
        """Read an imputation back from a run record (none: nothing imputed)."""
        if not raw:
            return cls()
        return cls(dict(raw.get("values") or {}), tuple(raw.get("indicators") or ()))


def learn(policy: MissingPolicy, frame: pd.DataFrame, columns: list[str], where: str) -> Imputation:
    """Learn the imputed values of ``columns`` on ``frame`` (the rows a model is fitted on).

    Raises
    ------
    MissingPolicyError
        When a rule does not suit its column (a mean of text, a level of numbers), a listed
        column is not among ``columns``, or an imputed column has no value to learn from.

    """
    check_listed(policy, columns, where)
    taken = [c for c in columns if c + INDICATOR in frame.columns]
    if taken:
        raise MissingPolicyError(
            f"{where}: column {taken[0] + INDICATOR!r} already exists; it is the name of {taken[0]!r}'s "
            "missing indicator"
        )
    values: dict[str, float | str] = {}
    indicators: list[str] = []
    for column in columns:
        rule = policy.rule(column)
        if rule == "drop":
            continue
        series = frame[column]
        if _is_text(series):
            if rule != "level":
                if column not in policy.columns:
                    continue  # a numeric default (median, a constant) leaves text columns to drop
                raise MissingPolicyError(
                    f"{where}: missing rule {rule!r} for {column!r}, a text column; use level or drop"
                )
            values[column] = MISSING_LEVEL
            continue
        if rule == "level":
            if column not in policy.columns:
                continue
            raise MissingPolicyError(
                f"{where}: missing rule 'level' for {column!r}, a numeric column; "
                "use median, mean, a number or drop"
            )
        present = pd.to_numeric(series, errors="coerce").astype("float64").dropna()
        if isinstance(rule, float):
            value = rule
        elif present.empty:
            raise MissingPolicyError(
                f"{where}: column {column!r} is missing on every row; no {rule} to impute"
            )
        else:
            value = float(present.median() if rule == "median" else present.mean())
        values[column] = value
        if series.isna().any():
            indicators.append(column)
    return Imputation(values, tuple(indicators))


def describe(imputation: Imputation) -> str:
    """Return a short text of what was imputed, for progress lines and reports."""
    if not imputation.values:
        return ""
    parts = [
        f"{c} = {v if isinstance(v, str) else f'{v:.4g}'}"
        + (" (+ indicator)" if c in imputation.indicators else "")
        for c, v in imputation.values.items()
    ]
    return "imputed " + ", ".join(parts)
