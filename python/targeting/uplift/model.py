"""``targeting uplift``: whom a campaign actually moves, from a randomised experiment table.

Reads the units of an uplift spec (:mod:`targeting.uplift.spec`): one row per unit and
experiment with an arm, a 0/1 outcome after the assignment and features measured before it.
Splits the units in two halves (seeded, stratified by arm), fits on one and evaluates on the
other:

- ``interaction``: one Bambi logistic model, ``y ~ z1 + ... + t1 + ... + t1:z1 + ...`` with a
  0/1 ``t`` per treatment arm (the control the reference). The ``t:z`` terms are the arm x
  feature interactions, each under a ``Normal(0, interaction_sigma)`` prior, so an
  interaction the data do not support stays near 0;
- ``two_model``: one Bambi logistic model per arm on that arm's units.

Features are standardised with the training half's mean and standard deviation. A unit's
uplift for a treatment arm is P(y | x, arm) - P(y | x, control) per posterior draw: its mean,
90% interval and P(uplift > 0). The held-out half gives Qini curves and AUC, and the uplift
in the top 10/20/30%, for the uplift ranking, the propensity ranking (P(y | x, control): the
clients most likely to buy anyway) and random targeting, with bootstrap intervals.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from targeting.core import missing
from targeting.core.binding import Role, bind, is_text, rows_in_scope
from targeting.core.estimable import check_finite, check_varies
from targeting.core.levels import MAX_LEVELS, ranked_levels
from targeting.core.modeling import DataError, build_model, diagnose, fit_model
from targeting.core.predict import predict_draws
from targeting.core.settings import manifest_path
from targeting.core.specs import ModelSpec
from targeting.core.sqlsafe import ident, unit_source
from targeting.core.warehouse import connect
from targeting.uplift import stats as upliftstats
from targeting.uplift.spec import SPLINE_DF, UpliftSpec, spline_basis

TOP_SHARES = (0.1, 0.2, 0.3)
#: Fewest training units of a level, in every arm, for a column of its own.
MIN_LEVEL_UNITS = 5


def _say(message: str) -> None:
    print(f"[uplift] {message}", file=sys.stderr, flush=True)


def read_units(spec: UpliftSpec, db: Path) -> tuple[pd.DataFrame, str]:
    """Read and check the spec's columns: a frame with unit_id, group, arm, y and the features."""
    where = spec.path or spec.name
    with connect(db) as con:
        # one binding step (targeting.core.binding), as every command's: a feature the relation's
        # dbt YAML declares measured after the assignment is an outcome, whatever its name
        roles = [Role(spec.id, "id", "key")] if spec.id else []
        roles += [Role(spec.arm, "arm"), Role(spec.outcome, "outcome", "number")]
        if spec.group:
            roles.append(Role(spec.group, "group"))
        for f in spec.features:
            # a transform needs numbers; a text column named alone is a category
            need = f"numbers ({f.transform}() needs numbers; name a text column alone: a category)"
            kind = ("number", need) if f.transform else ("number_or_text", "")
            roles.append(Role(f.column, "feature", *kind, predictor=True))
        moment = "features must be known before the assignment"
        rel = bind(con, spec.relation, roles, where, manifest_path(), keyless=not spec.id, moment=moment)
        label = rel.label
        text = {f.column for f in spec.features if is_text(rel, f.column)}
        scope = rows_in_scope(con, rel, where, spec.filter)
        feats = list(dict.fromkeys(f.column for f in spec.features))
        # no id: the row key every command gives a row (targeting.core.sqlsafe.keyed)
        source, key = unit_source(rel, spec.id, where)
        unit_id = f"cast({ident(key)} as varchar)"
        select = [
            f"{unit_id} as unit_id",
            (f"cast({ident(spec.group)} as varchar)" if spec.group else "'(all)'") + " as group_value",
            f"cast({ident(spec.arm)} as varchar) as arm",
            f"cast({ident(spec.outcome)} as double) as y",
            *[
                f"cast({ident(c)} as {'varchar' if c in text else 'double'}) as {ident('f_' + c)}"
                for c in feats
            ],
        ]
        frame = con.execute(f"select {', '.join(select)} from {source}{scope.where()}", scope.params).df()
    if frame.empty:
        raise DataError(f"{where}: {label} has no rows" + (f" where {spec.filter}" if spec.filter else ""))
    _check_units(spec, frame, label)
    return frame.sort_values(["group_value", "unit_id", "arm"], kind="stable").reset_index(drop=True), label


def _check_units(spec: UpliftSpec, frame: pd.DataFrame, label: str) -> None:
    where = spec.path or spec.name
    named = [("unit_id", spec.id or "(row key)"), ("arm", spec.arm), ("y", spec.outcome)]
    if spec.group:
        named.append(("group_value", spec.group))
    for col, name in named:
        empty = int(frame[col].isna().sum())
        if empty:
            raise DataError(f"{where}: column {name!r} of {label} is empty on {empty:,} rows")
    features = {f"f_{f.column}": f.column for f in spec.features}
    check_finite(frame, {"y": spec.outcome, **features}, f"{where}: {label}")
    check_varies(frame["y"].to_numpy(), spec.outcome, f"{where}: {label}")
    values = sorted(set(frame["y"].unique()))
    if not set(values) <= {0.0, 1.0}:
        raise DataError(
            f"{where}: outcome {spec.outcome!r} of {label} must be binary (0/1); found values {values[:10]}"
        )
    arms = sorted(frame["arm"].unique())
    if len(arms) < 2:
        raise DataError(
            f"{where}: column {spec.arm!r} of {label} has one arm only ({arms}); "
            "uplift needs a control and a treatment"
        )
    if spec.control not in arms:
        raise DataError(
            f"{where}: control arm {spec.control!r} is unknown; arms in {label} are: {', '.join(arms)}"
        )
    twice = frame.duplicated(["group_value", "unit_id"], keep=False)
    if twice.any():
        first = frame[twice].iloc[0]
        in_group = f" in {spec.group} {first['group_value']}" if spec.group else ""
        raise DataError(
            f"{where}: {int(twice.sum()):,} rows of {label} assign a unit twice, e.g. {spec.id} "
            f"{first['unit_id']}{in_group}; each unit needs exactly one arm per experiment"
        )


@dataclass
class Design:
    """The modelling frame: standardised features, the split and the names the formula uses."""

    frame: pd.DataFrame  # unit_id, group_value, arm, y, z0..zk, split
    terms: list[str]  # z0..zk
    means: np.ndarray
    sds: np.ndarray
    dropped: int
    names: list[str] = field(default_factory=list)  # what each z is: a feature term or an indicator
    imputation: missing.Imputation = field(default_factory=missing.Imputation)


def design(spec: UpliftSpec, units: pd.DataFrame) -> Design:
    """Apply the missing-value policy, transform and standardise the features, split the units in two.

    Units missing a feature whose rule is drop, or whose value is outside its transform's
    domain (``log1p`` of -2), are left out before the split; an imputed feature takes the
    value learnt on the training half (:mod:`targeting.core.missing`), and one with missing values
    there gains an indicator feature.
    """
    where = spec.path or spec.name
    columns = list(dict.fromkeys(f.column for f in spec.features))
    values = units[[f"f_{c}" for c in columns]].set_axis(columns, axis=1)
    numeric = [f for f in spec.features if pd.api.types.is_numeric_dtype(values[f.column])]
    text = [f for f in spec.features if f not in numeric]
    transformed = np.column_stack(
        [f.values(values[f.column].to_numpy()) for f in numeric] or [np.zeros((len(values), 0))]
    )
    present = values[[f.column for f in numeric]].notna().to_numpy(dtype=bool)  # (n, 0) with text only
    ok = ~(present & ~np.isfinite(transformed)).any(axis=1)
    ok &= values[spec.missing.dropped(columns, values)].notna().all(axis=1).to_numpy()
    if not ok.any():
        raise DataError(f"{where}: every row misses a feature value (null, or outside a transform's domain)")
    units, values = units[ok].reset_index(drop=True), values[ok].reset_index(drop=True)
    rng = np.random.default_rng(spec.split_seed)
    split = np.empty(len(units), dtype=object)
    for arm in sorted(units["arm"].unique()):  # stratified: each arm split in the same shares
        idx = np.flatnonzero(units["arm"].to_numpy() == arm)
        hold = rng.random(idx.size) < spec.holdout_share
        split[idx] = np.where(hold, "holdout", "train")
    train = split == "train"
    for arm in sorted(units["arm"].unique()):
        n_arm = int((train & (units["arm"] == arm).to_numpy()).sum())
        if n_arm < 10:
            raise DataError(
                f"{where}: arm {arm!r} has {n_arm} training units after the split; need at least 10"
            )
    try:
        imputation = missing.learn(spec.missing, values[train], columns, where)
    except missing.MissingPolicyError as exc:
        raise DataError(str(exc)) from None
    filled = imputation.apply(values)
    names: list[str] = []
    blocks: list[np.ndarray] = []
    for f in numeric:
        column = f.values(filled[f.column].to_numpy())
        if f.transform == "bs":
            # a spline: one feature per basis column, the knots from the training half
            distinct = np.unique(column[train]).size
            if distinct <= SPLINE_DF:
                raise DataError(
                    f"{where}: feature {f.term!r} has {distinct} distinct values in the training half; "
                    f"a spline needs more than {SPLINE_DF} (use the column itself)"
                )
            basis = spline_basis(column, train)
            names += [f"{f.term}[{j}]" for j in range(1, basis.shape[1] + 1)]
            blocks += list(basis.T)
        else:
            names.append(f.term)
            blocks.append(column)
    names += imputation.terms()
    blocks += [filled[c].to_numpy(dtype=float) for c in imputation.terms()]
    arm_of = units["arm"].to_numpy()
    for f in text:
        # a text feature: one 0/1 column per level but the reference (the most frequent in
        # training); a level needs MIN_LEVEL_UNITS training units in every arm, and not all of
        # them (the two-model approach fits each arm apart: a constant column has no effect to
        # estimate), and at most MAX_LEVELS - 1 get a column, by training count; the other
        # levels, and a level unseen in training, share the reference
        level = filled[f.column].astype(str).to_numpy()
        counts = ranked_levels(level[train])
        kept = []
        for value in counts.index[1:]:
            per_arm = [
                (int(((level == value) & train & (arm_of == a)).sum()), int((train & (arm_of == a)).sum()))
                for a in np.unique(arm_of)
            ]
            if all(MIN_LEVEL_UNITS <= n <= total - MIN_LEVEL_UNITS for n, total in per_arm):
                kept.append(value)
        kept = kept[: MAX_LEVELS - 1]
        for value in kept:
            names.append(f"{f.term}[{value}]")
            blocks.append((level == value).astype(float))
        left = len(counts) - 1 - len(kept)
        if left:
            # say what the model cannot see: levels folded into the reference
            _say(
                f"text feature {f.term!r}: {len(kept)} of its {len(counts) - 1} levels "
                f"besides the reference {counts.index[0]!r} get a column; {left} share the reference "
                f"(fewer than {MIN_LEVEL_UNITS} training units in an arm, or beyond {MAX_LEVELS - 1} levels)"
            )
    if not blocks:
        raise DataError(
            f"{where}: text feature(s) {[f.term for f in text]} have no level besides the most frequent "
            f"with {MIN_LEVEL_UNITS} training units in every arm; nothing to model"
        )
    raw = np.column_stack(blocks)
    means, sds = raw[train].mean(axis=0), raw[train].std(axis=0)
    constant = [n for n, s in zip(names, sds, strict=True) if not s > 0]
    if constant:
        raise DataError(f"{where}: feature(s) {constant} are constant on the training half")
    terms = [f"z{i}" for i in range(len(names))]
    z = pd.DataFrame((raw - means) / sds, columns=terms)
    frame = pd.concat([units[["unit_id", "group_value", "arm", "y"]], z], axis=1).assign(split=split)
    return Design(frame, terms, means, sds, int((~ok).sum()), names, imputation)


def _model_spec(spec: UpliftSpec, name: str, formula: str, priors: dict[str, Any]) -> ModelSpec:
    return ModelSpec(
        name=f"{spec.name}-{name}",
        relation=spec.relation,
        id="unit_id",
        label="y",
        formula=formula,
        priors=priors,
        sampler=spec.sampler,
        text=spec.text,
        path=spec.path,
    )


@dataclass
class Fitted:
    """Posterior draws of P(y = 1 | x, arm) for every unit and arm: (draws, units) arrays."""

    p: dict[str, np.ndarray]
    diagnostics: list[str]
    seconds: float
    ok: bool = True


def _draws(model: Any, idata: Any, rows: pd.DataFrame, group_specific: bool) -> np.ndarray:
    p = predict_draws(model, idata, rows, group_specific)
    return p.reshape(-1, p.shape[-1])


def _with_arm(frame: pd.DataFrame, arms: list[str], arm: str | None = None) -> pd.DataFrame:
    """Add a 0/1 column ``t<i>`` per treatment arm ``arms[i]`` to ``frame``.

    The control, ``arms[0]``, is the reference. Each unit gets its own arm, or ``arm`` for
    every unit (the counterfactual a score needs).
    """
    values = frame["arm"] if arm is None else pd.Series(arm, index=frame.index)
    return frame.assign(**{f"t{i}": (values == a).to_numpy(dtype=float) for i, a in enumerate(arms[1:], 1)})


def fit_interaction(spec: UpliftSpec, d: Design, arms: list[str], progress: bool) -> Fitted:
    """One model: main effects, an effect per treatment arm and arm x feature interactions.

    Every interaction has a ``Normal(0, interaction_sigma)`` prior on the standardised scale:
    a fixed regularising scale, not a hierarchy over the arms (two or three arms cannot
    inform a group scale: that funnel failed its diagnostics on a 64k-unit experiment and
    sampled 13 times slower than the two-model approach).
    """
    treat = [f"t{i}" for i in range(1, len(arms))]
    inter = [f"{t}:{z}" for t in treat for z in d.terms]
    formula = "y ~ " + " + ".join([*d.terms, *treat, *inter])
    prior = {"dist": "Normal", "mu": 0, "sigma": spec.interaction_sigma}
    mspec = _model_spec(spec, "interaction", formula, {term: prior for term in inter})
    train = _with_arm(d.frame[d.frame["split"] == "train"], arms)
    model = build_model(mspec, train)
    _say(
        f"interaction model: {len(d.terms)} features x {len(treat)} treatment arm(s) on "
        f"{len(train):,} training units"
    )
    idata, seconds = fit_model(model, mspec, progress=progress)
    diag = diagnose(idata, mspec)
    p = {a: _draws(model, idata, _with_arm(d.frame, arms, a), False) for a in arms}
    return Fitted(p, [f"interaction: {diag.message}"], seconds, diag.ok)


def fit_two_model(spec: UpliftSpec, d: Design, arms: list[str], progress: bool) -> Fitted:
    """One model per arm on that arm's training units."""
    formula = "y ~ " + " + ".join(d.terms)
    p, diags, seconds, ok = {}, [], 0.0, True
    for a in arms:
        mspec = _model_spec(spec, f"two_model_{a}", formula, {})
        rows = d.frame[(d.frame["split"] == "train") & (d.frame["arm"] == a)]
        if rows["y"].nunique() < 2:
            raise DataError(
                f"{spec.path}: arm {a!r} has only outcome {rows['y'].iloc[0]:.0f} in the training half"
            )
        model = build_model(mspec, rows)
        _say(f"two-model: arm {a} on {len(rows):,} training units")
        idata, secs = fit_model(model, mspec, progress=progress)
        seconds += secs
        diag = diagnose(idata, mspec)
        ok = ok and diag.ok
        diags.append(f"two_model[{a}]: {diag.message}")
        p[a] = _draws(model, idata, d.frame, False)
    return Fitted(p, diags, seconds, ok)


def score_rows(spec: UpliftSpec, d: Design, fitted: Fitted, model_name: str, run_id: str) -> pd.DataFrame:
    """Per unit and treatment arm: uplift mean, 90% interval, P(uplift > 0), both probabilities."""
    frames = []
    p_c = fitted.p[spec.control]
    for arm, p_t in fitted.p.items():
        if arm == spec.control:
            continue
        up = p_t - p_c
        lo, hi = np.quantile(up, [0.05, 0.95], axis=0)
        frames.append(
            pd.DataFrame(
                {
                    "run_id": run_id,
                    "spec_name": spec.name,
                    "model": model_name,
                    "unit_id": d.frame["unit_id"],
                    "group_value": d.frame["group_value"],
                    "arm": arm,
                    "control_arm": spec.control,
                    "assigned_arm": d.frame["arm"],
                    "split": d.frame["split"],
                    "outcome": d.frame["y"],
                    "uplift_mean": up.mean(axis=0),
                    "uplift_lower": lo,
                    "uplift_upper": hi,
                    "prob_positive": (up > 0).mean(axis=0),
                    "p_control": p_c.mean(axis=0),
                    "p_treated": p_t.mean(axis=0),
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def _metric_rows(
    spec: UpliftSpec, rankings: dict[str, np.ndarray], treated: np.ndarray, y: np.ndarray
) -> list[dict[str, object]]:
    """Every metric of one model and arm on the held-out units, with bootstrap intervals."""
    rows: list[dict[str, object]] = []

    def add(ranking: str, metric: str, stat: Any) -> None:
        lo, hi = (np.nan, np.nan)
        if spec.bootstrap:
            lo, hi = upliftstats.bootstrap(stat, treated, spec.bootstrap, spec.split_seed)
        value = stat(np.arange(len(y)))
        rows.append({"ranking": ranking, "metric": metric, "value": value, "lower": lo, "upper": hi})

    for ranking, score in rankings.items():
        add(ranking, "qini_auc", lambda i, sc=score: upliftstats.qini_auc(y[i], treated[i], sc[i]))
        for share in TOP_SHARES:
            add(
                ranking,
                f"uplift_top_{round(share * 100)}pct",
                lambda i, sc=score, sh=share: upliftstats.uplift_at(y[i], treated[i], sc[i], sh),
            )
    up, prop = rankings["uplift"], rankings["propensity"]
    add(
        "uplift_vs_propensity",
        "qini_auc_difference",
        lambda i: (
            upliftstats.qini_auc(y[i], treated[i], up[i]) - upliftstats.qini_auc(y[i], treated[i], prop[i])
        ),
    )
    # random targeting: a Qini AUC of 0 by construction; its uplift in any top share is the average
    rows.append({"ranking": "random", "metric": "qini_auc", "value": 0.0, "lower": 0.0, "upper": 0.0})
    for share in TOP_SHARES:
        add(
            "random",
            f"uplift_top_{round(share * 100)}pct",
            lambda i: float(y[i][treated[i]].mean() - y[i][~treated[i]].mean()),
        )
    return rows


def evaluate_rows(spec: UpliftSpec, scores: pd.DataFrame, run_id: str, diagnostics: str) -> pd.DataFrame:
    """Held-out Qini AUC and top-k uplift of the uplift, propensity and random rankings."""
    frames = []
    for (model_name, arm), s in scores[scores["split"] == "holdout"].groupby(["model", "arm"], sort=True):
        s = s[s["assigned_arm"].isin([arm, spec.control])]
        treated = (s["assigned_arm"] == arm).to_numpy()
        rankings = {"uplift": s["uplift_mean"].to_numpy(), "propensity": s["p_control"].to_numpy()}
        rows = _metric_rows(spec, rankings, treated, s["outcome"].to_numpy())
        frames.append(pd.DataFrame(rows).assign(model=str(model_name), arm=str(arm), n_units=len(s)))
    table = pd.concat(frames, ignore_index=True)
    table["run_id"] = run_id
    table["spec_name"] = spec.name
    table["diagnostics"] = diagnostics
    return table


@dataclass
class UpliftResult:
    """What ``run_uplift`` produced."""

    run_id: str
    scores: pd.DataFrame
    evaluations: pd.DataFrame
    label: str
    diagnostics: str
    seconds: float
    diagnostics_ok: bool = True


def run_uplift(spec: UpliftSpec, db: Path, progress: bool = True) -> UpliftResult:
    """Read, split, fit the spec's models, score every unit and evaluate on the held-out half."""
    units, label = read_units(spec, db)
    d = design(spec, units)
    arms = [spec.control, *sorted(a for a in d.frame["arm"].unique() if a != spec.control)]
    n_hold = int((d.frame["split"] == "holdout").sum())
    _say(
        f"{len(d.frame):,} units from {label} ({d.dropped:,} dropped for a missing feature or one "
        f"outside its transform's domain), arms {', '.join(arms)}; {len(d.frame) - n_hold:,} train, "
        f"{n_hold:,} held out" + (f"; {missing.describe(d.imputation)}" if d.imputation.values else "")
    )
    run_id = f"{spec.name}-{spec.digest}"
    created = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
    scores, diagnostics, seconds, ok = [], [], 0.0, True
    fitters = {"interaction": fit_interaction, "two_model": fit_two_model}
    for name in spec.models:
        fitted = fitters[name](spec, d, arms, progress)
        scores.append(score_rows(spec, d, fitted, name, run_id))
        diagnostics += fitted.diagnostics
        seconds += fitted.seconds
        ok = ok and fitted.ok
    table = pd.concat(scores, ignore_index=True).assign(created_at=created)
    diag = "; ".join(diagnostics)
    evaluations = evaluate_rows(spec, table, run_id, diag).assign(created_at=created)
    return UpliftResult(run_id, table, evaluations, label, diag, seconds, ok)
