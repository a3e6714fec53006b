"""``targeting segment``: k-means clusters of customers on standardised behavioural features.

Steps, every random one seeded by the spec's ``seed``:

1. Read the spec's rows (the latest cutoff when it has ``as_of``), checking every column.
2. Preprocess: ``log1p`` on non-negative right-skewed features, the spec's missing-value
   policy (:mod:`targeting.core.missing`; default ``median``, no indicators), then standardise
   (fitted on all rows).
3. Choose k (``k: auto``): on a seeded sample of ``selection_rows`` rows, fit k-means for
   every k in ``k_range``; k is the one with the highest silhouette. The elbow of the
   inertia curve (the point farthest from the chord between its ends) is reported beside it.
4. Fit k-means with that k on all rows; clusters are numbered 1.. by size (1 = largest).
5. Write ``ml.segment_runs``, ``ml.customer_clusters`` (one row per customer) and
   ``ml.cluster_profiles`` (per cluster and feature: mean, overall mean, standardised
   centre) in one transaction; dbt stages them into ``marts.segment_profiles``.
"""

from __future__ import annotations

import hashlib
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TypedDict

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.cluster import KMeans
from sklearn.metrics import silhouette_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from targeting.core.binding import Role, bind, is_text, rows_in_scope
from targeting.core.estimable import check_finite
from targeting.core.levels import MAX_LEVELS, ranked_levels
from targeting.core.missing import MISSING_LEVEL
from targeting.core.modeling import DataError
from targeting.core.settings import manifest_path
from targeting.core.sqlsafe import ident, unit_source
from targeting.core.warehouse import connect
from targeting.segments.spec import SegmentSpec

#: k-means restarts (best of) for the selection fits and the final fit.
N_INIT = 4
#: Rows of the silhouette computation (it is quadratic in rows).
SILHOUETTE_ROWS = 5000
#: Skewness above which a non-negative feature is clustered on the log1p scale.
SKEW_FOR_LOG = 2.0
#: The level of a text feature's values beyond its ``MAX_LEVELS - 1`` most frequent.
OTHER_LEVEL = "(other)"


class SkewedLog1p(BaseEstimator, TransformerMixin):  # type: ignore[misc]
    """``log1p`` on the columns that are non-negative and right-skewed in training."""

    def fit(self, x: np.ndarray, y: object = None) -> SkewedLog1p:
        """Find the skewed non-negative columns."""
        arr = np.asarray(x, dtype=float)
        with np.errstate(all="ignore"):
            lows = np.nanmin(arr, axis=0) if arr.size else np.zeros(arr.shape[1])
            skew = pd.DataFrame(arr).skew().to_numpy()
        self.log_ = (lows >= 0) & (np.nan_to_num(skew) > SKEW_FOR_LOG)
        return self

    def transform(self, x: np.ndarray) -> np.ndarray:
        """Apply ``log1p`` to the columns found in ``fit`` (negatives clipped to 0 there)."""
        arr = np.array(x, dtype=float)
        arr[:, self.log_] = np.log1p(np.clip(arr[:, self.log_], 0, None))
        return arr


class PolicyImputer(BaseEstimator, TransformerMixin):  # type: ignore[misc]
    """The spec's missing-value rules on the clustering scale (after :class:`SkewedLog1p`).

    ``median`` and ``mean`` are learnt on the transformed column (the median of log1p(x) is
    log1p of x's median); a constant is written in that scale too. Segments gain no missing
    indicators: a 0/1 dimension would split the clusters by missingness alone.
    """

    def __init__(self, rules: Sequence[object], logged: SkewedLog1p) -> None:
        self.rules = rules
        self.logged = logged

    def fit(self, x: np.ndarray, y: object = None) -> PolicyImputer:
        """Learn each column's value."""
        arr = np.asarray(x, dtype=float)
        values = []
        with np.errstate(all="ignore"):
            for j, rule in enumerate(self.rules):
                if isinstance(rule, float):
                    values.append(float(np.log1p(max(rule, 0.0))) if self.logged.log_[j] else rule)
                else:
                    values.append(float(np.nanmean(arr[:, j]) if rule == "mean" else np.nanmedian(arr[:, j])))
        self.values_ = np.array(values)
        return self

    def transform(self, x: np.ndarray) -> np.ndarray:
        """Fill the missing values."""
        arr = np.array(x, dtype=float)
        holes = np.isnan(arr)
        arr[holes] = np.broadcast_to(self.values_, arr.shape)[holes]
        return arr


class SegmentRun(TypedDict):
    """One row of ``ml.segment_runs``: what a segmentation run was and how k was chosen."""

    run_id: str
    spec_name: str
    relation: str
    as_of_date: date | None
    n_rows: int
    features: str
    log_features: str
    k: int
    k_method: str
    best_silhouette_k: int
    elbow_k: int
    silhouette: float
    inertia: float
    seed: int
    created_at: datetime


@dataclass
class SegmentResult:
    """What a segmentation run computed (the three ml tables and the k-selection curve)."""

    run_id: str
    run: SegmentRun
    clusters: pd.DataFrame
    profiles: pd.DataFrame
    selection: pd.DataFrame
    x_sample: np.ndarray
    labels_sample: np.ndarray
    seconds: float

    def sizes(self) -> pd.DataFrame:
        """One row per cluster: ``cluster``, ``n_clients``, ``share``."""
        return self.profiles.drop_duplicates("cluster")[["cluster", "n_clients", "share"]].reset_index(
            drop=True
        )

    def top_features(self, n: int = 3) -> pd.Series:
        """Per cluster, its ``n`` features farthest from average: ``orders_365d +1.8, ...``."""
        p = self.profiles.assign(distance=self.profiles["z_centre"].abs())
        top = p.sort_values(["cluster", "distance"], ascending=[True, False]).groupby("cluster").head(n)
        text = top["feature"] + " " + top["z_centre"].map(lambda v: f"{v:+.1f}")
        return text.groupby(top["cluster"]).agg(", ".join).rename("top_features")


def _say(message: str, progress: bool) -> None:
    if progress:
        print(f"[segment] {message}", file=sys.stderr, flush=True)


def read_rows(spec: SegmentSpec, db: Path) -> tuple[pd.DataFrame, str, date | None]:
    """Check the spec's columns against the catalog and read its rows; returns (rows, relation, cutoff)."""
    where = spec.path or spec.name
    with connect(db) as con:
        # one binding step (targeting.core.binding), as every command's
        roles = [Role(spec.id, "id", "key")] if spec.id else []
        if spec.as_of:
            roles.append(Role(spec.as_of, "as_of", "date"))
        roles += [Role(f, "feature", "number_or_text", predictor=True) for f in spec.features]
        moment = "segment features must be known at the cutoff"
        rel = bind(con, spec.relation, roles, where, manifest_path(), keyless=not spec.id, moment=moment)
        # the filter's rows, at the latest cutoff among them
        scope = rows_in_scope(con, rel, where, spec.filter, spec.as_of)
        as_of = scope.cutoff
        # no id: the row key every command gives a row (targeting.core.sqlsafe.keyed)
        source, key = unit_source(rel, spec.id, where)
        cols = [f"cast({ident(key)} as varchar) as {ident('client_id')}"]
        rel_text = {f for f in spec.features if is_text(rel, f)}  # a category: one-hot below
        cols += [
            f"cast({ident(f)} as {'varchar' if f in rel_text else 'double'}) as {ident(f)}"
            for f in spec.features
        ]
        frame = con.execute(f"select {', '.join(cols)} from {source}{scope.where()}", scope.params).df()
    if len(frame) < 10:
        raise DataError(
            f"{where}: {len(frame)} rows of {rel.label} to cluster (filter {spec.filter!r}); need at least 10"
        )
    if frame["client_id"].duplicated().any():
        dup = frame.loc[frame["client_id"].duplicated(), "client_id"].iloc[0]
        raise DataError(
            f"{where}: id {dup!r} appears twice in the rows to cluster; the id must be unique per row"
        )
    empty = [f for f in spec.features if frame[f].isna().all()]
    if empty:
        raise DataError(f"{where}: feature column(s) {empty} of {rel.label} are empty in the rows to cluster")
    check_finite(frame, {f: f for f in spec.features}, f"{where}: {rel.label}")
    if all(frame[f].nunique(dropna=True) <= 1 for f in spec.features):
        raise DataError(
            f"{where}: every feature column of {rel.label} has one value in the rows to cluster "
            f"({', '.join(spec.features)}); there is nothing to segment by"
        )
    return frame.sort_values("client_id", kind="stable").reset_index(drop=True), rel.label, as_of


def elbow_k(ks: np.ndarray, inertia: np.ndarray) -> int:
    """Return the k of the inertia curve's elbow: the point farthest below the chord joining its ends."""
    x = (ks - ks[0]) / max(ks[-1] - ks[0], 1)
    span = inertia[0] - inertia[-1]
    y = (inertia - inertia[-1]) / span if span > 0 else np.zeros_like(inertia)
    chord = 1 - x  # the straight line from (0, 1) to (1, 0)
    return int(ks[int(np.argmax(chord - y))])


def choose_k(x: np.ndarray, spec: SegmentSpec, progress: bool) -> pd.DataFrame:
    """Fit k-means for each k of ``k_range`` on ``x``; silhouette and inertia per k."""
    rng = np.random.default_rng(spec.seed)
    sil_idx = rng.choice(len(x), size=min(SILHOUETTE_ROWS, len(x)), replace=False)
    rows = []
    high = min(spec.k_range[1], len(x) - 1)
    for k in range(spec.k_range[0], high + 1):
        km = KMeans(n_clusters=k, n_init=N_INIT, random_state=spec.seed).fit(x)
        labels = km.labels_
        sil = (
            float(silhouette_score(x[sil_idx], labels[sil_idx], random_state=spec.seed))
            if len(set(labels[sil_idx])) > 1
            else float("nan")
        )
        rows.append({"k": k, "silhouette": sil, "inertia": float(km.inertia_)})
        _say(f"k={k}: silhouette {sil:.3f}, inertia {km.inertia_:,.0f}", progress)
    return pd.DataFrame(rows)


def design_matrix(
    frame: pd.DataFrame, numeric: list[str], text: list[str], spec: SegmentSpec
) -> tuple[np.ndarray, list[str], np.ndarray, list[str]]:
    """Build the clustering space from the numeric and the text features.

    Numeric features are logged where skewed, imputed and standardised; each text feature is
    one-hot (its ``MAX_LEVELS - 1`` most frequent levels, the rest as
    ``(other)``, a missing value as ``(missing)`` under the ``level`` rule), centred and
    scaled so that the block's total variance is 1, the weight of one numeric feature.

    Returns the matrix, its column names (``feature`` or ``feature=level``), the raw values
    the profiles describe (the feature's value, or 0/1 for a level) and the logged features.
    """
    n = len(frame)
    blocks: list[np.ndarray] = []
    raws: list[np.ndarray] = []
    names: list[str] = list(numeric)
    logged: list[str] = []
    if numeric:
        logger = SkewedLog1p()
        rules = [spec.missing.rule(f) for f in numeric]
        prep = make_pipeline(logger, PolicyImputer(rules, logger), StandardScaler())
        values = frame[numeric].to_numpy(dtype=float)
        blocks.append(prep.fit_transform(values))
        raws.append(values)
        logged = [f for f, flag in zip(numeric, prep[0].log_, strict=True) if flag]
    for f in text:
        level = frame[f].astype(object).where(frame[f].notna(), MISSING_LEVEL).astype(str).to_numpy()
        counts = ranked_levels(level)
        kept = list(counts.index[: MAX_LEVELS - 1])
        if len(counts) > len(kept):
            level = np.where(np.isin(level, kept), level, OTHER_LEVEL)
            kept.append(OTHER_LEVEL)
        onehot = (level[:, None] == np.array(kept, dtype=object)[None, :]).astype(float)
        centred = onehot - onehot.mean(axis=0)
        total = float(np.sqrt(centred.var(axis=0).sum()))
        blocks.append(centred / total if total > 0 else centred)
        raws.append(onehot)
        names += [f"{f}={value}" for value in kept]
    x = np.hstack(blocks) if blocks else np.zeros((n, 0))
    return x, names, np.hstack(raws), logged


def run_segment(spec: SegmentSpec, db: Path, progress: bool = True) -> SegmentResult:
    """Cluster the spec's rows with its ``k`` (``None``: auto, by silhouette)."""
    start = time.perf_counter()
    frame, relation, as_of = read_rows(spec, db)
    features = list(spec.features)
    k = spec.k
    where = spec.path or spec.name
    if k is not None and k >= len(frame):
        raise DataError(f"{where}: k={k} needs more than the {len(frame)} rows of {relation}")
    sampled = min(spec.selection_rows, len(frame))
    if k is None and spec.k_range[0] >= sampled:
        raise DataError(
            f"{where}: k_range {list(spec.k_range)} starts at {spec.k_range[0]} clusters, but k is chosen on "
            f"{sampled} rows of {relation}; lower k_range (at most {sampled - 1}) or cluster more rows"
        )
    # the missing-value policy (targeting.core.missing; for segments the default is median): rows
    # missing a feature whose rule is drop get no cluster, the others are imputed
    text = [f for f in features if not pd.api.types.is_numeric_dtype(frame[f])]
    numeric = [f for f in features if f not in text]
    dropped = spec.missing.dropped(features, frame)
    n_read = len(frame)
    frame = frame.dropna(subset=dropped).reset_index(drop=True)
    if len(frame) < 10:
        raise DataError(
            f"{where}: {len(frame)} of the {n_read:,} rows of {relation} have every feature whose missing "
            f"rule is drop ({', '.join(dropped)}); need at least 10 to cluster"
        )
    bad = [f for f in numeric if spec.missing.rule(f) == "level"]
    if bad:
        raise DataError(
            f"{where}: missing rule 'level' for {bad[0]!r}, a numeric feature; "
            "use median, mean, a number or drop"
        )
    _say(
        f"{len(frame):,} rows of {relation}"
        + (f" at {as_of}" if as_of is not None else "")
        + (f" ({n_read - len(frame):,} dropped for a missing feature)" if len(frame) < n_read else ""),
        progress,
    )
    x, names, raw, logged = design_matrix(frame, numeric, text, spec)
    rng = np.random.default_rng(spec.seed)
    sample = np.sort(rng.choice(len(x), size=min(spec.selection_rows, len(x)), replace=False))
    selection = choose_k(x[sample], spec, progress)
    elbow = elbow_k(selection["k"].to_numpy(), selection["inertia"].to_numpy())
    best = int(selection["k"].to_numpy()[int(np.argmax(selection["silhouette"].to_numpy()))])
    method = "given"
    if k is None:
        k, method = best, "silhouette"
    _say(f"k={k} ({method}); best silhouette at k={best}, elbow at k={elbow}", progress)
    km = KMeans(n_clusters=k, n_init=N_INIT, random_state=spec.seed).fit(x)
    # number clusters by size, largest first (ties by the first feature's centre)
    sizes = np.bincount(km.labels_, minlength=k)
    order = np.lexsort((km.cluster_centers_[:, 0], -sizes))
    relabel = np.empty(k, dtype=np.int64)
    relabel[order] = np.arange(1, k + 1)
    cluster = relabel[km.labels_]
    centres = km.cluster_centers_[order]
    distance = np.linalg.norm(x - centres[cluster - 1], axis=1)
    sil_idx = sample[: min(SILHOUETTE_ROWS, len(sample))]
    silhouette = (
        float(silhouette_score(x[sil_idx], cluster[sil_idx], random_state=spec.seed))
        if len(set(cluster[sil_idx])) > 1
        else float("nan")
    )
    h = hashlib.sha256(spec.text.encode())
    h.update(f"k={k}".encode())
    h.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    run_id = f"{spec.name}-{h.hexdigest()[:12]}"
    cutoff = None if as_of is None else pd.Timestamp(as_of).date()
    clusters = pd.DataFrame(
        {
            "client_id": frame["client_id"].to_numpy(dtype=object),
            "as_of_date": cutoff,
            "cluster": cluster.astype(np.int32),
            "distance": distance,
        }
    )
    rows = []
    for c in range(1, k + 1):
        members = cluster == c
        for j, f in enumerate(names):
            rows.append(
                {
                    "cluster": c,
                    "feature": f,
                    "n_clients": int(members.sum()),
                    "share": float(members.mean()),
                    "mean_value": float(np.nanmean(raw[:, j][members])),
                    "overall_mean": float(np.nanmean(raw[:, j])),
                    "z_centre": float(centres[c - 1, j]),
                }
            )
    profiles = pd.DataFrame(rows)
    run: SegmentRun = {
        "run_id": run_id,
        "spec_name": spec.name,
        "relation": relation,
        "as_of_date": cutoff,
        "n_rows": len(frame),
        "features": ", ".join(features),
        "log_features": ", ".join(logged),
        "k": k,
        "k_method": method,
        "best_silhouette_k": best,
        "elbow_k": elbow,
        "silhouette": silhouette,
        "inertia": float(km.inertia_),
        "seed": spec.seed,
        "created_at": datetime.now(UTC).replace(tzinfo=None, microsecond=0),
    }
    seconds = time.perf_counter() - start
    plot_idx = sample[: min(3000, len(sample))]
    return SegmentResult(run_id, run, clusters, profiles, selection, x[plot_idx], cluster[plot_idx], seconds)
