"""``targeting plan``: how many units an experiment needs, what it can detect, how long it runs.

Three questions, for a rate (0/1 outcome) or a mean (an amount per unit), each answered
with and without the variance reduction that regression adjustment on pre-assignment
covariates would bring (:mod:`targeting.experiments.adjust`):

- ``--mde`` given: the units per arm needed to detect that difference with the power asked;
- ``--n-per-arm`` given: the smallest difference detectable with that many units;
- ``--days`` and ``--daily-units`` given: the units those days bring, then the difference.

The baseline (the control's rate or mean, and a mean's standard deviation) is given
(``--baseline``, ``--sd``) or taken from data: any warehouse relation or CSV file with one
row per unit (``--metric`` names the outcome column), optionally filtered by a boolean
column. With ``--covariate`` columns the data also give the share of the outcome's variance
they explain (``r2``); ``--variance-reduction`` gives it directly. ``--date`` names a
column of the data whose distinct values count the days, for the units per day.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from targeting.core.binding import Role
from targeting.core.estimable import check_finite, check_varies
from targeting.core.sqlsafe import ident
from targeting.experiments import power
from targeting.experiments.abtest import bound_source
from targeting.experiments.adjust import covariate_matrix, explained_share


class PlanError(ValueError):
    """The planning options are missing, contradictory or out of range."""


@dataclass(frozen=True)
class Baseline:
    """What planning needs to know about the outcome before the experiment."""

    kind: str  # "rate" or "mean"
    mean: float
    sd: float
    r2: float = 0.0
    daily_units: float | None = None
    n_rows: int | None = None
    source: str = "given"


def read_baseline(
    metric: str,
    csv: Path | None,
    relation: str | None,
    db: Path,
    covariates: list[str],
    keep_if: str | None,
    date: str | None,
    control: tuple[str, str] | None = None,
) -> Baseline:
    """Take the baseline from data: the outcome's mean and spread, r2 of the covariates, units per day.

    Parameters
    ----------
    metric
        The outcome column (0/1 is a rate, anything else a mean).
    csv, relation
        Exactly one: a CSV file, or a warehouse relation (``schema.table`` or a dbt model).
    db
        The warehouse file (for ``relation``).
    covariates
        Pre-assignment columns whose explained share of variance sizes an adjusted test.
    keep_if
        A boolean column: only rows where it is true are read.
    date
        A column whose distinct values are days: the rows per day give the units per day.
    control
        ``(arm column, control value)``: the baseline is the control arm's rows only (an
        earlier experiment's untreated units); the units per day still count every row.

    Returns
    -------
    Baseline
        Read from the rows; every column checked by :func:`targeting.core.binding.bind`.

    """
    if (csv is None) == (relation is None):
        raise PlanError("give exactly one of --csv FILE or --relation SCHEMA.TABLE, or --baseline")
    need = "numbers (0/1 for a conversion, amounts for revenue)"
    roles = [Role(metric, "metric", "number", need)]
    roles += [Role(c, "covariate", "number", predictor=True) for c in covariates]
    if keep_if is not None:
        roles.append(Role(keep_if, "keep-if", "boolean"))
    if date is not None:
        roles.append(Role(date, "date", "date"))
    if control is not None:
        roles.append(Role(control[0], "arm"))
    with bound_source(csv, relation, db, roles) as (con, rel, label):
        select = [f"cast({ident(metric)} as double) as {ident('__y')}"]
        select += [f"cast({ident(c)} as double) as {ident(c)}" for c in covariates]
        if date is not None:
            select.append(f"cast({ident(date)} as date) as {ident('__day')}")
        params: list[object] = []
        if control is not None:
            select.append(f"cast({ident(control[0])} as varchar) = ? as {ident('__control')}")
            params.append(control[1])
        where = f" where {ident(keep_if)}" if keep_if is not None else ""
        frame = con.execute(f"select {', '.join(select)} from {rel.sql}{where}", params).df()
    days = frame["__day"].dropna().nunique() if date is not None else 0
    if control is not None:
        arm, value = control
        if not frame["__control"].fillna(False).any():
            raise PlanError(
                f"{label}: no row has {value!r} in arm column {arm!r}; the baseline needs control rows"
            )
        rows = len(frame)
        frame = frame[frame["__control"].fillna(False).astype(bool)]
        base = baseline_from_frame(frame, metric, covariates, label)
        return replace(base, daily_units=rows / days if days else None, source=f"{label}, arm {value!r}")
    return baseline_from_frame(frame, metric, covariates, label, date)


def baseline_from_frame(
    frame: pd.DataFrame, metric: str, covariates: list[str], label: str, date: str | None = None
) -> Baseline:
    """Summarise rows read by :func:`read_baseline` (outcome ``__y``, optional ``__day``)."""
    if len(frame) < 3:
        raise PlanError(f"{label}: {len(frame)} row(s) to take a baseline from; at least 3 are needed")
    y = frame["__y"].to_numpy(dtype=float)
    empty = int(np.isnan(y).sum())
    if empty:
        raise PlanError(f"{label}: column {metric!r} is empty on {empty:,} rows; every unit needs a value")
    check_finite(frame, {"__y": metric, **{c: c for c in covariates}}, label)
    check_varies(y, metric, label, "metric")
    sd = float(np.std(y, ddof=1))
    kind = "rate" if bool(np.isin(y, (0.0, 1.0)).all()) else "mean"
    r2 = explained_share(y, covariate_matrix(frame, covariates)) if covariates else 0.0
    daily = None
    if date is not None:
        days = frame["__day"].dropna().nunique()
        if days == 0:
            raise PlanError(f"{label}: date column {date!r} is empty on every row")
        daily = len(frame) / days
    return Baseline(kind, float(y.mean()), sd, r2, daily, len(frame), label)


def given_baseline(
    kind: str | None, mean: float, sd: float | None, data_options: dict[str, object]
) -> Baseline:
    """Build the baseline from ``--baseline`` (and ``--sd`` for a mean), refusing data options beside it."""
    for option, value in data_options.items():
        if value:
            raise PlanError(f"--baseline is given, so {option} has nothing to do; give one or the other")
    if kind is None:
        raise PlanError("--baseline needs --metric-kind rate or mean")
    if not math.isfinite(mean) or (kind == "rate" and not 0 < mean < 1):
        raise PlanError(f"--baseline {mean}: a rate must be in (0, 1), a mean a finite number")
    if kind == "rate":
        if sd is not None:
            raise PlanError("--sd is for a mean; a rate's spread follows from the rate")
        return Baseline(kind, mean, math.sqrt(mean * (1 - mean)))
    if sd is None or not (math.isfinite(sd) and sd > 0):
        raise PlanError(f"a mean's baseline needs its standard deviation per unit, --sd > 0 (got {sd})")
    return Baseline(kind, mean, sd)


def check_kind(base: Baseline, metric: str, kind: str | None) -> None:
    """Refuse ``--metric-kind`` when the data say otherwise (a 0/1 column is a rate)."""
    if kind is not None and kind != base.kind:
        raise PlanError(
            f"{base.source}: column {metric!r} holds a {base.kind}, but --metric-kind says {kind}"
        )


def with_overrides(
    base: Baseline, r2: float | None, daily_units: float | None, has_covariates: bool, date: str | None
) -> Baseline:
    """Apply ``--variance-reduction`` and ``--daily-units``, each refused beside what it replaces."""
    if r2 is not None:
        if has_covariates:
            raise PlanError("give --variance-reduction or --covariate, not both")
        if not (math.isfinite(r2) and 0 <= r2 < 1):
            raise PlanError(f"--variance-reduction must be in [0, 1), got {r2}")
        base = replace(base, r2=r2)
    if daily_units is not None:
        if date is not None:
            raise PlanError("give --daily-units or --date, not both")
        if not (math.isfinite(daily_units) and daily_units > 0):
            raise PlanError(f"--daily-units must be a positive number, got {daily_units}")
        base = replace(base, daily_units=daily_units)
    return base


@dataclass(frozen=True)
class PlanRequest:
    """The question: one of ``mde``, ``n_per_arm`` or ``days`` (with ``daily_units``)."""

    mde: float | None = None
    relative: bool = False
    n_per_arm: int | None = None
    days: float | None = None
    alpha: float = 0.10
    power: float = 0.80
    ratio: float = 1.0
    arms: int = 2


def check_request(req: PlanRequest, base: Baseline) -> None:
    """Refuse a question the formulas cannot answer, naming the option and its value."""
    if req.relative and req.mde is None:
        raise PlanError("--relative reads --mde as a share of the baseline: give --mde")
    asked = [req.mde is not None, req.n_per_arm is not None, req.days is not None]
    if sum(asked) != 1:
        raise PlanError("ask one question: --mde (units needed), --n-per-arm or --days (effect detectable)")
    if not 0 < req.alpha < 0.5:
        raise PlanError(f"--alpha must be in (0, 0.5), got {req.alpha}")
    if not req.alpha < req.power < 1:
        raise PlanError(f"--power must be in (alpha, 1), e.g. 0.8; got {req.power}")
    if not (math.isfinite(req.ratio) and req.ratio > 0):
        raise PlanError(
            f"--ratio (treatment units per control unit) must be a positive number, got {req.ratio}"
        )
    if req.arms < 2:
        raise PlanError(f"--arms counts every arm with the control: at least 2, got {req.arms}")
    if req.mde is not None and not (math.isfinite(req.mde) and req.mde != 0):
        raise PlanError(f"--mde must be a non-zero number, got {req.mde}")
    if req.n_per_arm is not None and req.n_per_arm < 2:
        raise PlanError(f"--n-per-arm must be at least 2, got {req.n_per_arm}")
    if req.days is not None:
        if not (math.isfinite(req.days) and req.days > 0):
            raise PlanError(f"--days must be a positive number, got {req.days}")
        if base.daily_units is None:
            raise PlanError("--days needs the units per day: give --daily-units, or --date with the data")
    if base.kind == "rate" and not 0 < base.mean < 1:
        raise PlanError(f"a baseline rate must be in (0, 1), got {base.mean:g}")
    if not (math.isfinite(base.sd) and base.sd > 0):
        raise PlanError(f"the outcome's standard deviation must be positive, got {base.sd:g}")
    if not 0 <= base.r2 < 1:
        raise PlanError(f"the variance reduction must be in [0, 1), got {base.r2:g}")


def plan(req: PlanRequest, base: Baseline) -> pd.DataFrame:
    """Answer the question without and with regression adjustment.

    Returns
    -------
    pandas.DataFrame
        One row per analysis (``unadjusted``; ``adjusted`` when ``r2 > 0``): the units of
        the control arm and of each treatment arm, the total over every arm, the days at the
        units per day when known, and the minimum detectable difference (absolute and
        relative to the baseline).

    """
    check_request(req, base)
    alpha = req.alpha / (req.arms - 1)  # Bonferroni over the treatment arms
    kind = "rate" if base.kind == "rate" else "mean"
    rows = []
    shares = [("unadjusted", 0.0)] + ([("adjusted", base.r2)] if base.r2 > 0 else [])
    for analysis, r2 in shares:
        inflate = 1 / math.sqrt(1 - r2)
        if req.mde is not None:
            mde = req.mde * base.mean if req.relative else req.mde
            try:
                es = power.effect_size(kind, base.mean, mde, base.sd)
            except power.PlanError as exc:
                raise PlanError(f"--mde: {exc}") from None
            n_c = power.n_control(es * inflate, alpha, req.power, req.ratio, kind)
            n_c = math.ceil(n_c)
        else:
            if req.n_per_arm is not None:
                n_c = req.n_per_arm
            else:
                assert base.daily_units is not None and req.days is not None
                total = base.daily_units * req.days
                n_c = math.floor(total / (1 + req.ratio * (req.arms - 1)))
                if n_c < 2:
                    raise PlanError(
                        f"{req.days:g} days at {base.daily_units:g} units a day give {n_c} control unit(s)"
                    )
            es = power.detectable_effect(n_c, alpha, req.power, req.ratio, kind) / inflate
            mde = power.effect_from_size(kind, base.mean, es, base.sd)
        n_t = math.ceil(n_c * req.ratio)
        total = n_c + n_t * (req.arms - 1)
        days = total / base.daily_units if base.daily_units else float("nan")
        rows.append(
            {
                "analysis": analysis,
                "variance_reduction": r2,
                "n_control": n_c,
                "n_per_treatment_arm": n_t,
                "n_total": total,
                "days": days,
                "mde": mde,
                "mde_relative": mde / base.mean if base.mean else float("nan"),
            }
        )
    return pd.DataFrame(rows)


def describe(req: PlanRequest, base: Baseline) -> list[str]:
    """Return the lines saying what the plan assumed: baseline, r2, units per day, the test."""
    spread = f", sd {base.sd:.4g}" if base.kind == "mean" else ""
    rows = f" ({base.n_rows:,} rows)" if base.n_rows else ""
    lines = [f"baseline: {base.kind} {base.mean:.4g}{spread}, from {base.source}{rows}"]
    if base.r2 > 0:
        lines.append(f"variance the covariates explain (r2): {base.r2:.3f}")
    if base.daily_units:
        lines.append(f"units per day: {base.daily_units:,.1f}")
    split = f", Bonferroni over {req.arms - 1} comparisons" if req.arms > 2 else ""
    lines.append(
        f"two-sided alpha {req.alpha:g}{split}, power {req.power:g}, {req.arms} arms, "
        f"{req.ratio:g} treatment unit(s) per control unit"
    )
    return lines


def baseline_from_options(
    metric: str | None,
    csv: Path | None,
    relation: str | None,
    db: Path,
    covariates: list[str],
    keep_if: str | None,
    date: str | None,
    arm: str | None,
    control: str | None,
    baseline: float | None,
    sd: float | None,
    metric_kind: str | None,
    variance_reduction: float | None,
    daily_units: float | None,
) -> Baseline:
    """Return the baseline ``plan`` works from: given (``baseline``, ``sd``) or read from the data.

    A given baseline refuses the data options; read from data, ``metric`` is required and
    ``arm`` and ``control`` go together (the control arm's rows give the baseline). The given
    variance reduction and units per day override what the data say.
    """
    if baseline is not None:
        given: dict[str, object] = {
            "--csv": csv,
            "--relation": relation,
            "--metric": metric,
            "--covariate": covariates,
            "--arm": arm,
        }
        base = given_baseline(metric_kind, baseline, sd, given)
    else:
        if not metric:
            raise PlanError("name the outcome column with --metric (or give --baseline)")
        if (arm is None) != (control is None):
            raise PlanError("--arm and --control go together: the control arm's rows give the baseline")
        arms = (arm, control) if arm is not None and control is not None else None
        base = read_baseline(metric, csv, relation, db, covariates, keep_if, date, arms)
        check_kind(base, metric, metric_kind)
    return with_overrides(base, variance_reduction, daily_units, bool(covariates), date)
