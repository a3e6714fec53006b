"""``targeting lift``: per-group (campaign) lift from randomised holdouts, with partial pooling.

The input is any relation or CSV with one row per unit: a group column (the campaign or
experiment), an arm column with a control arm, and outcome columns (a 0/1 conversion or
an amount such as revenue in the window). For each metric, treatment arm and group:

- no pooling: the group's own difference (treatment minus control) with its frequentist
  interval and p-value (two-proportion z or Welch t, as ``targeting abtest``), Holm-corrected
  across the groups of the run;
- partial pooling: the group's lift under the normal hierarchical model of
  :mod:`targeting.experiments.pooling` (estimates shrink toward the mean of all groups as far as their
  noise warrants), with a credible interval and P(lift > 0);
- one ``pooled`` row: the mean lift across groups (``mu``) with its credible interval, the
  spread of lifts between groups (``tau``), the interval of a new group's lift, and the
  inverse-variance (complete pooling) estimate with its confidence interval.

Each group also gets a sample-ratio-mismatch check against the planned shares. Results go
to ``ml.campaign_lift`` in one transaction per analysis name.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import pandas as pd
from scipy import stats

from targeting.core.estimable import check_arm_sizes
from targeting.core.sqlsafe import check_name
from targeting.experiments import abstats
from targeting.experiments.abtest import (
    SRM_THRESHOLD,
    AbConfig,
    AbTestError,
    _arms,
    check_config,
    check_metrics,
)
from targeting.experiments.adjust import Adjusted, adjusted_difference, adjusted_fields, covariate_matrix
from targeting.experiments.pooling import PooledEffects, partial_pooling


@dataclass(frozen=True)
class GroupEstimate:
    """One group's no-pooling comparison of a treatment arm with the control."""

    group: str
    n_treated: int
    n_control: int
    mean_treated: float
    mean_control: float
    comparison: abstats.Comparison
    se: float
    srm_p_value: float
    adjusted: Adjusted | None = None

    @property
    def pooled_input(self) -> tuple[float, float]:
        """The difference and standard error the partial pooling takes (adjusted when there is one)."""
        if self.adjusted is not None and self.adjusted.se > 0:
            return self.adjusted.diff, self.adjusted.se
        return self.comparison.diff, self.se


def _estimate(
    group: str,
    y_t: np.ndarray,
    y_c: np.ndarray,
    binary: bool,
    alpha: float,
    srm_p: float,
    x: tuple[np.ndarray, np.ndarray] | None = None,
) -> GroupEstimate:
    """Compare one group's arms: the difference, its interval and the pooling's standard error.

    For a rate the standard error is the unpooled Wald one on counts smoothed by one success
    and one failure per arm (Agresti-Caffo), so a group with no conversions in an arm still
    has a finite, non-zero standard error. With covariates ``x`` (treatment's, control's)
    the group's regression-adjusted difference is added, its slopes fitted within the group.
    """
    if binary:
        x_t, x_c = int(y_t.sum()), int(y_c.sum())
        comp = abstats.two_proportions(x_t, len(y_t), x_c, len(y_c), alpha)
        p_t, p_c = (x_t + 1) / (len(y_t) + 2), (x_c + 1) / (len(y_c) + 2)
        se = float(np.sqrt(p_t * (1 - p_t) / (len(y_t) + 2) + p_c * (1 - p_c) / (len(y_c) + 2)))
    else:
        comp = abstats.welch(y_t, y_c, alpha)
        se = abstats.unpooled_se(y_t, y_c)
    adjusted = adjusted_difference(y_t, x[0], y_c, x[1], alpha) if x is not None else None
    return GroupEstimate(
        group, len(y_t), len(y_c), float(y_t.mean()), float(y_c.mean()), comp, se, srm_p, adjusted
    )


def _prior_scale(frame: pd.DataFrame, metric: str, label: str) -> float:
    """Return the outcome's standard deviation over every row: the scale of the priors.

    Every arm counts: a control that barely buys has a tiny spread, and a prior scaled by it
    alone would pull a large true lift toward 0.
    """
    scale = float(np.std(frame[metric].to_numpy(), ddof=1)) if len(frame) > 1 else 0.0
    if not scale > 0:
        raise AbTestError(
            f"{label}: metric {metric!r} has the same value on every row; there is no lift to measure"
        )
    return scale


def analyse_lift(cfg: AbConfig, frame: pd.DataFrame, label: str, grouping: str) -> pd.DataFrame:
    """Every row of ``ml.campaign_lift`` for one analysis (``cfg.experiment`` names it).

    Parameters
    ----------
    cfg
        Arm and control, metrics, planned shares, alpha, draws and seed.
    frame
        One row per unit with columns ``arm``, ``group`` and the metrics.
    label
        Names the source in messages.
    grouping
        The group column's name, stored with the results.

    Returns
    -------
    pandas.DataFrame
        One ``group`` row per metric, treatment arm and group, and one ``pooled`` row per
        metric and treatment arm.

    """
    check_name(cfg.experiment, "analysis name", label)
    check_config(cfg)
    arms = _arms(cfg, frame, label)
    check_metrics(cfg, frame, label)
    frame = frame.reset_index(drop=True).assign(is_control=frame["arm"].to_numpy() == cfg.control)
    xmat = covariate_matrix(frame, cfg.covariates) if cfg.covariates else None
    groups = sorted(frame["group"].unique())
    planned = np.array([cfg.planned[a] for a in arms]) if cfg.planned else None
    by_group: dict[str, pd.DataFrame] = {}
    srm: dict[str, float] = {}
    for g in groups:
        rows = frame[frame["group"] == g]
        counts = rows["arm"].value_counts()
        missing = [a for a in arms if a not in counts.index]
        if missing:
            raise AbTestError(
                f"{label}: group {g!r} has no rows in arm(s) {missing}; every group needs every arm "
                f"(filter the group out or fix its assignments)"
            )
        check_arm_sizes({a: int(counts[a]) for a in arms}, cfg.arm, f"{label}: group {g!r}")
        by_group[g] = rows
        srm[g] = (
            abstats.sample_ratio_mismatch(np.array([counts[a] for a in arms]), planned)
            if planned is not None
            else float("nan")
        )
    out: list[dict[str, object]] = []
    seed = cfg.seed
    for metric in cfg.metrics:
        binary = bool(np.isin(frame[metric].to_numpy(), (0.0, 1.0)).all())
        scale = _prior_scale(frame, metric, label)
        for arm in arms[1:]:
            est = []
            for g in groups:
                rows = by_group[g]
                treated, control = rows["arm"] == arm, rows["is_control"]
                x = None
                if xmat is not None:
                    x = (xmat[rows.index[treated.to_numpy()]], xmat[rows.index[control.to_numpy()]])
                est.append(
                    _estimate(
                        g,
                        rows.loc[treated, metric].to_numpy(),
                        rows.loc[control, metric].to_numpy(),
                        binary,
                        cfg.alpha,
                        srm[g],
                        x,
                    )
                )
            y = np.array([e.pooled_input[0] for e in est])
            se = np.array([e.pooled_input[1] for e in est])
            pooled = partial_pooling(y, se, scale, cfg.alpha, cfg.draws, seed)
            seed += 1
            common = {
                "metric": metric,
                "metric_kind": "binary" if binary else "continuous",
                "arm": arm,
                "control_arm": cfg.control,
                "prior_scale": scale,
                "tau_mean": pooled.tau_mean,
                "tau_lower": pooled.tau_lower,
                "tau_upper": pooled.tau_upper,
            }
            for i, e in enumerate(est):
                out.append(
                    {
                        **common,
                        "level": "group",
                        "group_value": e.group,
                        "n_treated": e.n_treated,
                        "n_control": e.n_control,
                        "mean_treated": e.mean_treated,
                        "mean_control": e.mean_control,
                        "diff": e.comparison.diff,
                        "diff_lower": e.comparison.diff_lower,
                        "diff_upper": e.comparison.diff_upper,
                        "p_value": e.comparison.p_value,
                        "test": e.comparison.test,
                        "pooled_mean": float(pooled.theta_mean[i]),
                        "pooled_lower": float(pooled.theta_lower[i]),
                        "pooled_upper": float(pooled.theta_upper[i]),
                        "prob_positive": float(pooled.theta_prob_positive[i]),
                        "srm_p_value": e.srm_p_value,
                        **adjusted_fields(e.adjusted),
                    }
                )
            raw = (np.array([e.comparison.diff for e in est]), np.array([e.se for e in est]))
            row = _pooled_row(est, *raw, pooled, cfg.alpha)
            if xmat is not None:
                # the across-groups inverse-variance estimate of the adjusted differences
                adj = _pooled_row(est, y, se, pooled, cfg.alpha)
                row.update(
                    adj_diff=adj["diff"],
                    adj_diff_lower=adj["diff_lower"],
                    adj_diff_upper=adj["diff_upper"],
                    adj_p_value=adj["p_value"],
                    adj_diff_se=float(1 / np.sqrt((1 / se**2).sum())),
                    variance_reduction=float(1 - (1 / raw[1] ** 2).sum() / (1 / se**2).sum()),
                )
            out.append({**common, **row})
    table = pd.DataFrame(out)
    is_group = table["level"] == "group"
    table["p_value_holm"] = np.nan
    table.loc[is_group, "p_value_holm"] = abstats.holm(table.loc[is_group, "p_value"].to_numpy(dtype=float))
    table["srm_ok"] = ~(table["srm_p_value"] < SRM_THRESHOLD)
    for col in ("adj_diff", "adj_diff_se", "adj_diff_lower", "adj_diff_upper", "adj_p_value"):
        if col not in table.columns:
            table[col] = np.nan
    if "variance_reduction" not in table.columns:
        table["variance_reduction"] = np.nan
    table["covariates"] = ",".join(cfg.covariates) if cfg.covariates else None
    table["grouping"] = grouping
    table["alpha"] = cfg.alpha
    table["source"] = label
    table["analysed_at"] = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
    return table


def _pooled_row(
    est: list[GroupEstimate], y: np.ndarray, se: np.ndarray, pooled: PooledEffects, alpha: float
) -> dict[str, object]:
    """Build the across-groups row: the hierarchical mean and the inverse-variance estimate."""
    weights = 1 / se**2
    fixed = float((weights * y).sum() / weights.sum())
    fixed_se = float(1 / np.sqrt(weights.sum()))
    z = stats.norm.ppf(1 - alpha / 2)
    n_t = sum(e.n_treated for e in est)
    n_c = sum(e.n_control for e in est)
    return {
        "level": "pooled",
        "group_value": "(all)",
        "n_treated": n_t,
        "n_control": n_c,
        "mean_treated": sum(e.mean_treated * e.n_treated for e in est) / n_t,
        "mean_control": sum(e.mean_control * e.n_control for e in est) / n_c,
        "diff": fixed,
        "diff_lower": fixed - z * fixed_se,
        "diff_upper": fixed + z * fixed_se,
        "p_value": float(2 * stats.norm.sf(abs(fixed / fixed_se))),
        "test": "inverse-variance z",
        "pooled_mean": pooled.mu_mean,
        "pooled_lower": pooled.mu_lower,
        "pooled_upper": pooled.mu_upper,
        "prob_positive": pooled.mu_prob_positive,
        "new_group_lower": pooled.new_lower,
        "new_group_upper": pooled.new_upper,
        "srm_p_value": float("nan"),
    }


def warn_srm(table: pd.DataFrame) -> None:
    """Print a loud warning naming the groups whose arm counts miss the planned shares."""
    bad = table.loc[table["srm_p_value"] < SRM_THRESHOLD, "group_value"].unique()
    if len(bad):
        bar = "!" * 78
        print(
            f"{bar}\nWARNING: sample ratio mismatch in group(s) {', '.join(map(str, bad))} "
            f"(p < {SRM_THRESHOLD}): their arm counts do not match the planned shares, so "
            f"randomisation or logging is broken there; do not trust their lifts.\n{bar}",
            file=sys.stderr,
            flush=True,
        )


def few_groups_warning(n_groups: int, group: str) -> str | None:
    """Say when too few groups inform the spread between them (None from 3 groups on).

    Two groups cannot inform the between-group spread: the pooled row is then mostly its prior.
    """
    if n_groups >= 3:
        return None
    return (
        f"{n_groups} group(s) of {group}; with fewer than 3 the pooled row and the spread between "
        "groups say mostly what their prior says: read the per-group rows"
    )
