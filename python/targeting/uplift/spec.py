"""The uplift spec: which experiment table, arm, outcome and pre-treatment features to model.

An analyst edits one YAML file; nothing about the apparel data is assumed::

    name: holdout_uplift
    relation: campaign_holdout_features   # dbt model or schema.table, one row per unit
    id: client_id                         # optional: without it, units get a row key (below)
    group: bulk_campaign_id               # optional experiment column (a unit may be in several)
    arm: variant
    control: control
    outcome: converted                    # 0/1
    filter: window_complete               # optional condition on the relation's columns
    features: [open_rate_365d, click_rate_365d, log1p(orders_365d)]
    missing: {columns: {open_rate_365d: median}}   # optional; default: drop the row
    sampler: {method: nutpie, draws: 500, tune: 500, chains: 2, seed: 7}

A feature is a numeric or text column (text: a category, one-hot against its most frequent
level, see :func:`targeting.uplift.model.design`), or one of ``log1p(col)``, ``sqrt(col)``,
``abs(col)`` of a numeric column, or ``bs(col)``, a smooth effect of it (a cubic B-spline of
:data:`SPLINE_DF` columns, knots at the training half's quantiles, each column a feature of
its own, so the interaction model can give it an arm-specific shape): the
transform is applied by name from a fixed table, never evaluated as code. ``missing`` is the
missing-value policy every command shares (:mod:`targeting.core.missing`): a unit missing a
feature whose rule is drop is left out (counted); an imputed feature takes the value learnt on
the training half, and the ones with missing values there gain an indicator feature.

Without ``id`` (a public experiment file often has none) each row is a unit, keyed by its
position when the rows are sorted by every column of the relation, before the filter:
``row-1``, ``row-2``, ... (:func:`targeting.core.sqlsafe.keyed`, the key every command gives a
row). The key is stable for the same rows in any order, and rows that are equal on every
column are interchangeable, so which of them gets which key changes nothing computed.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from targeting.core.missing import MissingPolicy
from targeting.core.specs import Sampler, SpecError, parse_sampler, read_missing, read_spec_file

#: The transforms a feature may name, applied to a numeric column. ``bs`` keeps the values:
#: the model's design expands them into a spline basis (:func:`spline_basis`).
FEATURE_TRANSFORMS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "log1p": np.log1p,
    "sqrt": np.sqrt,
    "abs": np.abs,
    "bs": np.asarray,
}
#: Basis columns of a ``bs(col)`` feature (a cubic B-spline: interior knots at the training
#: half's quantiles).
SPLINE_DF = 4
MODELS = ("interaction", "two_model")
#: Fewest bootstrap resamples: fewer leave the held-out metrics' intervals undefined or noise.
MIN_BOOTSTRAP = 20
_FEATURE = re.compile(
    r"^(?:(?P<fn>[a-z0-9]+)\((?P<inner>[A-Za-z_][A-Za-z0-9_]*)\)|(?P<col>[A-Za-z_][A-Za-z0-9_]*))$"
)


@dataclass(frozen=True)
class Feature:
    """One pre-treatment feature: a column and an optional transform."""

    term: str
    column: str
    transform: str | None = None

    def values(self, raw: np.ndarray) -> np.ndarray:
        """Apply the transform (if any) to the column's values."""
        data = np.asarray(raw, dtype=float)
        return np.asarray(FEATURE_TRANSFORMS[self.transform](data)) if self.transform else data


def spline_basis(x: np.ndarray, train: np.ndarray, df: int = SPLINE_DF) -> np.ndarray:
    """Cubic B-spline basis of ``x``: ``df`` columns at most, knots from the ``train`` rows.

    Interior knots sit at the training values' quantiles (repeated ones dropped), the boundary
    knots at their minimum and maximum; values outside that range are clipped to it (a spline
    extrapolated past its data is a guess). The first basis function is left out: the model
    has an intercept. A column with fewer distinct training values gets fewer columns.
    """
    from scipy.interpolate import BSpline

    seen = x[train]
    low, high = float(seen.min()), float(seen.max())
    inner = np.unique(np.quantile(seen, np.linspace(0, 1, df - 1)[1:-1]))
    inner = inner[(inner > low) & (inner < high)]
    knots = np.concatenate([[low] * 4, inner, [high] * 4])
    basis = BSpline.design_matrix(np.clip(x, low, high), knots, 3).toarray()
    return np.asarray(basis[:, 1:])


@dataclass(frozen=True)
class UpliftSpec:
    """A validated uplift spec (see the module docstring for the keys)."""

    name: str
    relation: str
    id: str | None
    arm: str
    control: str
    outcome: str
    features: tuple[Feature, ...]
    group: str | None = None
    filter: str | None = None
    holdout_share: float = 0.5
    split_seed: int = 1
    interaction_sigma: float = 0.5
    models: tuple[str, ...] = MODELS
    bootstrap: int = 200
    sampler: Sampler = field(default_factory=Sampler)
    missing: MissingPolicy = field(default_factory=MissingPolicy)
    text: str = ""
    path: str = ""

    @property
    def digest(self) -> str:
        """Short hash of the spec text."""
        return hashlib.sha256(self.text.encode()).hexdigest()[:10]

    @property
    def columns(self) -> list[str]:
        """Every column the spec reads from its relation."""
        cols = [*([self.id] if self.id else []), self.arm, self.outcome, *[f.column for f in self.features]]
        return list(dict.fromkeys([*cols, *([self.group] if self.group else [])]))

    def with_sampler(self, **overrides: Any) -> UpliftSpec:
        """Return the spec with sampler settings overridden (the command line's), checked."""
        if not overrides:
            return self
        return replace(self, sampler=parse_sampler({**self.sampler.__dict__, **overrides}, self.path))


_REQUIRED = ("name", "relation", "arm", "control", "outcome", "features")
_KNOWN = set(_REQUIRED) | {
    "id",
    "group",
    "filter",
    "holdout_share",
    "split_seed",
    "interaction_sigma",
    "models",
    "bootstrap",
    "sampler",
    "missing",
    "description",
}


def parse_feature(term: Any, where: str) -> Feature:
    """Parse ``col`` or ``fn(col)`` with ``fn`` one of :data:`FEATURE_TRANSFORMS`."""
    m = _FEATURE.match(term) if isinstance(term, str) else None
    if m is None or (m["fn"] and m["fn"] not in FEATURE_TRANSFORMS):
        raise SpecError(
            f"{where}: feature {term!r} is not a column name or one of "
            f"{', '.join(f'{t}(column)' for t in FEATURE_TRANSFORMS)}"
        )
    if m["col"]:
        return Feature(term=m["col"], column=m["col"])
    return Feature(term=term, column=m["inner"], transform=m["fn"])


def _number(raw: dict[str, Any], key: str, default: float, low: float, high: float, where: str) -> float:
    value = raw.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not low < value < high:
        raise SpecError(f"{where}: {key} must be a number in ({low}, {high}), got {value!r}")
    return float(value)


def load_uplift_spec(path: str | Path) -> UpliftSpec:
    """Read and validate an uplift spec file; every refusal names the file and the key."""
    p, text, raw = read_spec_file(
        path,
        "uplift spec",
        _REQUIRED,
        _KNOWN,
        ("name", "relation", "id", "arm", "control", "outcome", "group", "filter"),
        hints={"features": "no pre-treatment features: name at least one"},
    )
    where = str(p)
    if not isinstance(raw["features"], list):
        raise SpecError(f"{p}: features must be a list of column names, got {raw['features']!r}")
    features = tuple(parse_feature(t, where) for t in raw["features"])
    if len({f.term for f in features}) < len(features):
        raise SpecError(f"{p}: features lists a term twice: {raw['features']}")
    for f in features:
        if f.column in (raw.get("id"), raw["arm"], raw["outcome"], raw.get("group")):
            raise SpecError(
                f"{p}: feature {f.term!r} is the spec's id, arm, outcome or group column; "
                "features must be measured before the assignment"
            )
    models = raw.get("models", list(MODELS))
    if not isinstance(models, list) or not models or not set(models) <= set(MODELS):
        raise SpecError(f"{p}: models must be a non-empty list of {list(MODELS)}, got {models!r}")
    for key, low in (("split_seed", 0), ("bootstrap", MIN_BOOTSTRAP)):
        value = raw.get(key, 1 if key == "split_seed" else 200)
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise SpecError(f"{p}: {key} must be a whole number >= {low}, got {value!r}")
    sampler = raw.get("sampler") or {}
    if not isinstance(sampler, dict):
        raise SpecError(f"{p}: sampler must be a mapping of setting to value, got {sampler!r}")
    policy = read_missing(raw.get("missing"), where, list(dict.fromkeys(f.column for f in features)))
    return UpliftSpec(
        name=raw["name"],
        relation=raw["relation"],
        id=raw.get("id") or None,
        arm=raw["arm"],
        control=raw["control"],
        outcome=raw["outcome"],
        features=features,
        group=raw.get("group"),
        filter=raw.get("filter"),
        holdout_share=_number(raw, "holdout_share", 0.5, 0.0, 1.0, where),
        split_seed=int(raw.get("split_seed", 1)),
        interaction_sigma=_number(raw, "interaction_sigma", 0.5, 0.0, 100.0, where),
        models=tuple(dict.fromkeys(models)),
        bootstrap=int(raw.get("bootstrap", 200)),
        sampler=parse_sampler(sampler, where),
        missing=policy,
        text=text,
        path=where,
    )
