"""The segmentation spec: which table, key and behavioural columns ``targeting segment`` clusters.

Nothing about the apparel data is assumed; an analyst edits one YAML file::

    name: behaviour
    relation: customer_features     # dbt model or schema.table
    id: client_id                   # optional: without it, rows get a key (below)
    as_of: as_of_date               # optional: cluster the latest cutoff's rows (omit for a plain table)
    filter: has_purchase_history    # optional condition on the relation's columns
    features: [orders_365d, revenue_365d, days_since_last_order, open_rate_365d, click_rate_365d]
    k: auto                         # or a whole number >= 2
    k_range: [2, 8]                 # candidates for k: auto
    seed: 42

Features are numeric or text columns. A text feature is a category: one-hot over its 19
most frequent levels (the rest as ``(other)``), scaled to the weight of one numeric feature.
Non-negative right-skewed numeric ones are clustered on the ``log1p`` scale, missing values
follow ``missing`` (the policy every command shares, :mod:`targeting.core.missing`; default
``median``: a rule per column, ``drop`` leaves the row unclustered; no indicators), and every
numeric feature is standardised. Without ``id`` each row is
a unit keyed ``row-1``, ``row-2``, ... by its place in the order of all the relation's
columns (:func:`targeting.core.sqlsafe.keyed`, the key every command gives a row): the same rows
in any order get the same keys and clusters.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from targeting.core.missing import MissingPolicy
from targeting.core.specs import SpecError, read_missing, read_spec_file

_REQUIRED = ("name", "relation", "features")
_KNOWN = set(_REQUIRED) | {
    "id",
    "as_of",
    "filter",
    "k",
    "k_range",
    "seed",
    "selection_rows",
    "missing",
    "description",
}


@dataclass(frozen=True)
class SegmentSpec:
    """A validated segmentation spec (see the module docstring for the keys)."""

    name: str
    relation: str
    id: str | None
    features: tuple[str, ...]
    as_of: str | None = None
    filter: str | None = None
    k: int | None = None  # None = auto
    k_range: tuple[int, int] = (2, 8)
    seed: int = 42
    selection_rows: int = 20000
    missing: MissingPolicy = field(default_factory=lambda: MissingPolicy("median"))
    text: str = ""
    path: str = ""

    @property
    def digest(self) -> str:
        """Short hash of the spec text."""
        return hashlib.sha256(self.text.encode()).hexdigest()[:10]


def _whole(raw: dict[str, Any], key: str, default: int, low: int, where: str) -> int:
    value = raw.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise SpecError(f"{where}: {key} must be a whole number >= {low}, got {value!r}")
    return int(value)


def parse_k(value: Any, where: str) -> int | None:
    """``auto`` (or missing) is ``None``; otherwise a whole number >= 2."""
    if value is None or value == "auto":
        return None
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < 2:
        raise SpecError(f"{where}: k must be auto or a whole number >= 2, got {value!r}")
    return int(value)


def load_segment_spec(path: str | Path) -> SegmentSpec:
    """Read and validate a segmentation spec; every refusal names the file and the key."""
    p, text, raw = read_spec_file(
        path, "segmentation spec", _REQUIRED, _KNOWN, ("name", "relation", "id", "as_of", "filter")
    )
    where = str(p)
    features = raw["features"]
    if not isinstance(features, list) or not all(isinstance(f, str) and f for f in features):
        raise SpecError(f"{p}: features must be a list of column names, got {features!r}")
    if len(set(features)) < len(features):
        raise SpecError(f"{p}: features lists a column twice: {features}")
    if len(features) < 2:
        raise SpecError(f"{p}: features needs at least two columns to cluster on, got {features}")
    keys: set[str] = {str(k) for k in (raw.get("id"), raw.get("as_of")) if k is not None}
    if keys & set(features):
        raise SpecError(f"{p}: the id or as_of column cannot be a feature: {sorted(keys & set(features))}")
    k_range = raw.get("k_range", [2, 8])
    if (
        not isinstance(k_range, list)
        or len(k_range) != 2
        or not all(isinstance(v, int) and not isinstance(v, bool) for v in k_range)
        or not 2 <= k_range[0] < k_range[1]
    ):
        raise SpecError(f"{p}: k_range must be [low, high] with 2 <= low < high, got {k_range!r}")
    seed = _whole(raw, "seed", 42, 0, where)
    if seed >= 2**32:
        raise SpecError(f"{p}: seed must be in [0, 2**32), got {seed}")
    policy = read_missing(raw.get("missing"), where, list(features), default="median")
    return SegmentSpec(
        name=raw["name"],
        relation=raw["relation"],
        id=raw.get("id") or None,
        features=tuple(features),
        as_of=raw.get("as_of") or None,
        filter=raw.get("filter"),
        k=parse_k(raw.get("k"), where),
        k_range=(k_range[0], k_range[1]),
        seed=seed,
        selection_rows=_whole(raw, "selection_rows", 20000, 100, where),
        missing=policy,
        text=text,
        path=str(p),
    )
