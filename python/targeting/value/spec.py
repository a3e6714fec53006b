"""The customer-lifetime-value spec: which table and columns ``targeting clv`` models.

Nothing about the apparel data is assumed; an analyst edits one YAML file::

    name: clv
    relation: customer_rfm_summary   # dbt model or schema.table: one row per customer (and cutoff)
    id: client_id
    as_of: as_of_date                # optional: the latest cutoff's rows (omit for a plain table)
    filter: null                     # optional condition on the relation's columns (applied
                                     # before the latest cutoff is chosen)
    frequency: frequency             # repeat purchases (whole numbers >= 0)
    recency: recency_days            # first to last purchase, in time units
    age: t_days                      # first purchase to the end of the observation (T)
    monetary: monetary_value         # mean value of the repeat purchases (> 0 for repeat buyers)
    horizon: 90                      # predict purchases and value over this many time units
    method: nutpie                   # or map (a point estimate: no intervals)
    sampler: {draws: 1000, tune: 1000, chains: 2, seed: 11}
    evaluation:                      # optional: out of time, on the latest cutoff whose window is known
      complete: window_complete      #   boolean column: the actuals of the row are known
      purchases: occasions_in_window #   actual purchases in the `horizon` after the cutoff
      revenue: revenue_in_window     #   actual revenue in it
      window_end: label_window_end   #   optional date column: checked to be as_of + horizon

Recency, age and horizon share one time unit (days for ``customer_rfm_summary``).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from targeting.core.specs import Sampler, SpecError, parse_sampler, read_spec_file

_REQUIRED = ("name", "relation", "frequency", "recency", "age", "monetary")
_KNOWN = set(_REQUIRED) | {
    "id",
    "as_of",
    "filter",
    "horizon",
    "method",
    "sampler",
    "evaluation",
    "description",
}
_TEXT = ("name", "relation", "id", "as_of", "filter", "frequency", "recency", "age", "monetary")
_EVALUATION_KEYS = {"complete", "purchases", "revenue", "window_end"}

#: How the models are fitted: nutpie's NUTS (posterior draws, intervals) or MAP (a point).
METHODS = ("nutpie", "map")


@dataclass(frozen=True)
class Evaluation:
    """The columns an out-of-time evaluation compares the predictions with."""

    complete: str
    purchases: str
    revenue: str
    window_end: str | None = None


@dataclass(frozen=True)
class ClvSpec:
    """A validated CLV spec (see the module docstring for the keys)."""

    name: str
    relation: str
    frequency: str
    recency: str
    age: str
    monetary: str
    id: str | None = None
    as_of: str | None = None
    filter: str | None = None
    horizon: float = 90.0
    method: str = "nutpie"
    sampler: Sampler = field(default_factory=lambda: Sampler(draws=1000, tune=1000, chains=2, seed=11))
    evaluation: Evaluation | None = None
    text: str = ""
    path: str = ""

    @property
    def digest(self) -> str:
        """Short hash of the spec text."""
        return hashlib.sha256(self.text.encode()).hexdigest()[:10]

    @property
    def columns(self) -> dict[str, str]:
        """The role of each summary column: frequency, recency, age and monetary."""
        return {
            "frequency": self.frequency,
            "recency": self.recency,
            "age": self.age,
            "monetary": self.monetary,
        }


def _evaluation(raw: Any, where: str) -> Evaluation | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise SpecError(f"{where}: evaluation must be a mapping of complete, purchases, revenue, got {raw!r}")
    unknown = sorted(set(raw) - _EVALUATION_KEYS, key=str)
    if unknown:
        raise SpecError(
            f"{where}: unknown evaluation key {unknown[0]!r}; expected some of {sorted(_EVALUATION_KEYS)}"
        )
    missing = [k for k in ("complete", "purchases", "revenue") if not raw.get(k)]
    if missing:
        raise SpecError(f"{where}: evaluation needs {missing} (column names)")
    for key, value in raw.items():
        if not isinstance(value, str) or not value.strip():
            raise SpecError(f"{where}: evaluation.{key} must be a column name, got {value!r}")
    return Evaluation(raw["complete"], raw["purchases"], raw["revenue"], raw.get("window_end"))


def load_clv_spec(path: str | Path) -> ClvSpec:
    """Read and validate a CLV spec; every refusal names the file and the key."""
    p, text, raw = read_spec_file(path, "CLV spec", _REQUIRED, _KNOWN, _TEXT)
    where = str(p)
    roles = {k: raw[k] for k in ("frequency", "recency", "age", "monetary")}
    if len(set(roles.values())) < len(roles):
        raise SpecError(f"{where}: frequency, recency, age and monetary must be four columns, got {roles}")
    keys: set[str] = {str(k) for k in (raw.get("id"), raw.get("as_of")) if k is not None}
    if keys & set(roles.values()):
        raise SpecError(
            f"{where}: the id or as_of column cannot also be {sorted(keys & set(roles.values()))}"
        )
    horizon = raw.get("horizon", 90)
    if isinstance(horizon, bool) or not isinstance(horizon, int | float) or not 0 < horizon <= 100_000:
        raise SpecError(f"{where}: horizon must be a number of time units in (0, 100000], got {horizon!r}")
    method = raw.get("method", "nutpie")
    if method not in METHODS:
        raise SpecError(f"{where}: method is {method!r}; expected one of {METHODS}")
    sampler_raw = raw.get("sampler") or {}
    if not isinstance(sampler_raw, dict):
        raise SpecError(f"{where}: sampler must be a mapping of setting to value, got {sampler_raw!r}")
    if sampler_raw.get("method", "nutpie") != "nutpie":
        raise SpecError(
            f"{where}: sampler.method is {sampler_raw['method']!r}; clv samples with nutpie "
            "(set method: map for a point estimate)"
        )
    # Gamma-Gamma's p, q and v are strongly correlated: 500 draws a chain left its bulk ESS
    # below 100 on 4,000 simulated customers
    defaults = {"draws": 1000, "tune": 1000, "chains": 2, "seed": 11}
    sampler = parse_sampler({**defaults, **sampler_raw}, where)
    evaluation = _evaluation(raw.get("evaluation"), where)
    if evaluation is not None and not raw.get("as_of"):
        raise SpecError(
            f"{where}: evaluation needs as_of: the cutoff whose window is known is an earlier one"
        )
    return ClvSpec(
        name=raw["name"],
        relation=raw["relation"],
        frequency=raw["frequency"],
        recency=raw["recency"],
        age=raw["age"],
        monetary=raw["monetary"],
        id=raw.get("id") or None,
        as_of=raw.get("as_of") or None,
        filter=raw.get("filter"),
        horizon=float(horizon),
        method=method,
        sampler=sampler,
        evaluation=evaluation,
        text=text,
        path=str(p),
    )
