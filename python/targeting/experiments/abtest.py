"""``targeting abtest``: compare the arms of any experiment table, frequentist and Bayesian.

The input is a warehouse relation (checked against the catalog) or a CSV file (read by
DuckDB, the path a bound parameter) with one row per unit (user, client): an arm column and
outcome columns. Nothing about the apparel data is assumed: the command names its columns.

Per metric and treatment arm against the control:

- binary outcome (0/1): two-proportion z-test and a Wald interval of the difference;
  Beta-Binomial posteriors (uniform prior) for the rate, its lift, P(best), expected loss;
  a chi-square across all arms when there are three or more;
- continuous outcome (revenue per user): Welch's t-test and interval; the posterior of
  each mean under the reference prior (a Student t around the sample mean);
- ratio metric ``name=num/den`` (revenue per converter, cost per conversion, ROAS): ratio
  of sums per arm, delta-method interval and z-test of the difference (no Bayesian part).

Holm's correction runs across every comparison of the run; a sample-ratio-mismatch check
(chi-square of arm counts against the planned shares, equal by default) flags a broken
randomisation loudly. Results go to ``ml.ab_results`` in one transaction per experiment.

Options add, beside the unadjusted estimate:

- ``covariates`` (``--covariate``): the regression-adjusted (CUPED) difference of every
  binary or continuous metric, its interval and p-value, and the variance reduction achieved
  (:mod:`targeting.experiments.adjust`); ratio metrics stay unadjusted;
- ``sequential`` (``--sequential``): the always-valid p-value and confidence sequence of the
  difference (adjusted when there are covariates) by the mixture SPRT
  (:mod:`targeting.experiments.sequential`), over every look of ``looks_by`` (``--looks-by``, e.g. the
  assignment day: look k holds the units of the first k values) or the data as it is now;
- metric roles for the decision mart: guardrails, minimum effects, lower-is-better metrics.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
from scipy import stats

from targeting.core.binding import Role, bind
from targeting.core.estimable import check_arm_sizes, check_finite, check_varies
from targeting.core.paths import literal_pattern
from targeting.core.settings import default_db, manifest_path
from targeting.core.sqlsafe import Relation, check_name, ident
from targeting.core.warehouse import connect
from targeting.experiments import abstats
from targeting.experiments.adjust import adjusted_difference, adjusted_fields, covariate_matrix
from targeting.experiments.sequential import DEFAULT_TAU, always_valid

#: Below this sample-ratio-mismatch p-value the randomisation is taken to be broken.
SRM_THRESHOLD = 0.001

#: Most distinct values of ``--looks-by`` (looks) a sequential analysis takes.
MAX_LOOKS = 1000

#: Frame columns the analysis itself uses: no metric or covariate may take their names.
RESERVED = ("arm", "group", "look")


class AbTestError(ValueError):
    """The experiment table or the options cannot be analysed as asked."""


@dataclass
class AbConfig:
    """What to compare: the arm column, the control arm, the metrics."""

    experiment: str
    arm: str
    control: str
    metrics: list[str]
    ratios: list[tuple[str, str, str]] = field(default_factory=list)
    planned: dict[str, float] | None = None
    alpha: float = abstats.ALPHA
    draws: int = 20_000
    seed: int = 1
    covariates: list[str] = field(default_factory=list)
    sequential: bool = False
    seq_tau: float = DEFAULT_TAU
    looks_by: str | None = None
    guardrails: list[str] = field(default_factory=list)
    min_effects: dict[str, float] = field(default_factory=dict)
    lower_is_better: list[str] = field(default_factory=list)

    def names(self) -> list[str]:
        """Every metric's name as results show it: the outcome columns, then the ratios."""
        return [*self.metrics, *[n for n, _, _ in self.ratios]]


def check_config(cfg: AbConfig) -> None:
    """Refuse options that contradict each other, naming the option and the value.

    Covariates must differ from the metrics (a covariate is measured before the
    assignment); ``--looks-by`` needs ``--sequential``; guardrails, minimum effects and
    lower-is-better metrics must name a metric of the run.
    """
    both = [c for c in cfg.covariates if c in cfg.metrics or any(c in (n, d) for _, n, d in cfg.ratios)]
    if both:
        raise AbTestError(
            f"--covariate {both[0]!r} is also an outcome of the run; a covariate must be measured "
            "before the assignment (last period's value of the metric, not the metric)"
        )
    if len(set(cfg.covariates)) != len(cfg.covariates):
        raise AbTestError(f"--covariate names a column twice: {cfg.covariates}")
    if cfg.looks_by is not None and not cfg.sequential:
        raise AbTestError("--looks-by orders the looks of a sequential test: give --sequential too")
    if not (math.isfinite(cfg.seq_tau) and cfg.seq_tau > 0):
        raise AbTestError(
            f"--sequential-tau must be a positive number (a share of a standard deviation), got {cfg.seq_tau}"
        )
    names = cfg.names()
    for option, given in (
        ("--guardrail", cfg.guardrails),
        ("--min-effect", list(cfg.min_effects)),
        ("--lower-is-better", cfg.lower_is_better),
    ):
        for metric in given:
            if metric not in names:
                raise AbTestError(
                    f"{option} names {metric!r}, which is not a metric of this run; its metrics are: "
                    f"{', '.join(names)}"
                )
    for metric, value in cfg.min_effects.items():
        if not (math.isfinite(value) and value >= 0):
            raise AbTestError(
                f"--min-effect {metric}={value}: expected a difference >= 0 in the metric's units"
            )
    if cfg.guardrails and set(cfg.guardrails) >= set(names):
        raise AbTestError("every metric is a --guardrail; name at least one primary metric to decide on")


def parse_min_effect(text: str) -> tuple[str, float]:
    """``metric=value`` (``--min-effect``) into the metric and the smallest difference worth shipping."""
    name, sep, value = text.partition("=")
    try:
        number = float(value)
    except ValueError:
        number = float("nan")
    if not sep or not name.strip() or not math.isfinite(number):
        raise AbTestError(
            f"--min-effect {text!r} is not metric=number (the smallest difference worth shipping, "
            "in the metric's units, e.g. converted=0.005)"
        )
    return name.strip(), number


def parse_ratio(text: str) -> tuple[str, str, str]:
    """``name=numerator/denominator`` into its three column names."""
    name, sep, rest = text.partition("=")
    num, slash, den = rest.partition("/")
    if not (sep and slash and name and num and den):
        raise AbTestError(f"ratio metric {text!r} is not name=numerator/denominator (e.g. roas=revenue/cost)")
    return name.strip(), num.strip(), den.strip()


def parse_planned(text: str) -> dict[str, float]:
    """``arm=share,arm=share`` into planned shares (any positive numbers; they are normalised)."""
    planned = {}
    for part in text.split(","):
        arm, sep, share = part.partition("=")
        try:
            value = float(share)
        except ValueError:
            value = -1.0
        if not sep or not math.isfinite(value) or value <= 0:
            raise AbTestError(
                f"planned share {part!r} is not arm=positive number (e.g. control=0.2,treatment=0.8)"
            )
        planned[arm.strip()] = value
    return planned


def _check_header(csv: Path) -> None:
    """Refuse a CSV whose header names a column twice (DuckDB would rename one to ``name_1``)."""
    import csv as csvlib

    with csv.open(newline="", encoding="utf-8", errors="replace") as fh:
        first = fh.readline(1 << 20)
    header = next(csvlib.reader([first]), [])
    seen: set[str] = set()
    for name in (h.strip() for h in header):
        if name in seen:
            raise AbTestError(
                f"experiment file {csv}: the header names column {name!r} twice; "
                "every column needs its own name"
            )
        seen.add(name)


def csv_table(csv: Path) -> duckdb.DuckDBPyConnection:
    """Open an in-memory database holding the CSV file as table ``main.experiment`` (path bound)."""
    if not csv.exists():
        raise AbTestError(f"experiment file {csv} does not exist")
    if not csv.is_file():
        raise AbTestError(f"experiment file {csv} is not a regular file (a folder, device or pipe)")
    _check_header(csv)
    con = duckdb.connect()
    try:
        # the name taken literally: e[1].csv is that file, never the pattern matching e1.csv
        con.execute(
            "create table experiment as select * from read_csv(?, header=true)", [literal_pattern(csv)]
        )
    except duckdb.Error as exc:
        con.close()
        raise AbTestError(f"experiment file {csv} cannot be read as CSV: {str(exc).splitlines()[0]}") from exc
    return con


@contextmanager
def bound_source(
    csv: Path | None, relation: str | None, db: Path | None, roles: list[Role]
) -> Iterator[tuple[duckdb.DuckDBPyConnection, Relation, str]]:
    """Open a CSV file (read into a table) or the warehouse, and bind ``roles`` against it.

    Exactly one of ``csv`` and ``relation`` is given (the caller says so in its own words).
    Yields the open connection, the bound relation and how messages name the source. Used
    by ``abtest``, ``lift`` and ``plan``.
    """
    moment = "covariates must be measured before the assignment"
    if csv is not None:
        with csv_table(csv) as con:
            rel = bind(con, "main.experiment", roles, str(csv), moment=moment, shown="the file")
            yield con, rel, str(csv)
        return
    # the warehouse as every command opens it: a missing or locked file is a clear error
    with connect(db or default_db()) as con:
        rel = bind(con, str(relation), roles, "--relation", manifest_path(), moment=moment)
        yield con, rel, rel.label


def read_experiment(
    cfg: AbConfig,
    csv: Path | None = None,
    relation: str | None = None,
    db: Path | None = None,
    group: str | None = None,
    keep_if: str | None = None,
    arms: str | None = None,
) -> tuple[pd.DataFrame, str]:
    """Read the arm and outcome columns, checked; return the frame and a label of the source.

    ``group`` adds a column ``group`` (the column's values as text, e.g. the campaign);
    ``keep_if`` names a boolean column: only rows where it is true are read. ``arms``
    (``--arms a,b``) keeps those arms' rows, once every row read has been checked.
    """
    columns = list(dict.fromkeys([*cfg.metrics, *[c for _, n, d in cfg.ratios for c in (n, d)]]))
    reserved = [c for c in [*columns, *cfg.covariates] if c in RESERVED]
    if reserved:
        raise AbTestError(
            f"metric or covariate column(s) {reserved} share a name the analysis uses for the arm, "
            "group or look; rename them in a view or the CSV"
        )
    if (csv is None) == (relation is None):
        raise AbTestError("give exactly one of --csv FILE or --relation SCHEMA.TABLE")
    # one binding step (targeting.core.binding), as every command's
    roles = [Role(cfg.arm, "arm")]
    need = "numbers (0/1 for a conversion, amounts for revenue)"
    roles += [Role(c, "metric", "number", need) for c in columns]
    roles += [Role(c, "covariate", "number", predictor=True) for c in cfg.covariates]
    if cfg.looks_by is not None:
        roles.append(Role(cfg.looks_by, "looks-by"))
    if group is not None:
        roles.append(Role(group, "group"))
    if keep_if is not None:
        roles.append(Role(keep_if, "keep-if", "boolean"))
    with bound_source(csv, relation, db, roles) as (con, rel, label):
        select = [f"cast({ident(cfg.arm)} as varchar) as arm"]
        select += [f"cast({ident(c)} as double) as {ident(c)}" for c in [*columns, *cfg.covariates]]
        where = ""
        if group is not None:
            select.append(f"cast({ident(group)} as varchar) as {ident('group')}")
        if cfg.looks_by is not None:
            # look k: the units of the k smallest values of the column (a day, a week number)
            look = ident(cfg.looks_by)
            rank = f"dense_rank() over (order by {look})"
            select.append(f"case when {look} is not null then {rank} end as look")
        if keep_if is not None:
            where = f" where {ident(keep_if)}"
        frame = con.execute(f"select {', '.join(select)} from {rel.sql}{where}").df()
    if frame.empty:
        raise AbTestError(f"{label}: no rows to analyse" + (f" where {keep_if} is true" if keep_if else ""))
    for col in frame.columns:
        if col in cfg.covariates:
            continue  # a missing covariate is filled and flagged (targeting.experiments.adjust)
        empty = int(frame[col].isna().sum())
        if empty:
            name = {"arm": cfg.arm, "group": group, "look": cfg.looks_by}.get(col, col)
            raise AbTestError(
                f"{label}: column {name!r} is empty on {empty:,} rows; every unit needs a value"
            )
    check_finite(frame, {c: c for c in [*columns, *cfg.covariates]}, label)
    if "look" in frame.columns and frame["look"].max() > MAX_LOOKS:
        raise AbTestError(
            f"{label}: --looks-by column {cfg.looks_by!r} has {int(frame['look'].max()):,} distinct values; "
            f"a sequential analysis takes at most {MAX_LOOKS:,} looks (give a day or week column)"
        )
    if arms:
        frame = select_arms(cfg, frame, parse_arms(arms), label)
    return frame, label


def parse_arms(text: str) -> list[str]:
    """Parse ``--arms a,b,...``: two or more distinct arm names, in the order given."""
    arms = [a.strip() for a in text.split(",")]
    if any(not a for a in arms) or len(set(arms)) != len(arms) or len(arms) < 2:
        raise AbTestError(f"--arms {text!r}: expected two or more distinct arm names separated by commas")
    return arms


def select_arms(cfg: AbConfig, frame: pd.DataFrame, arms: list[str], label: str) -> pd.DataFrame:
    """Keep the rows of ``arms`` only (``--arms``): an analysis of some arms of an experiment.

    The control must be one of them, and each must be an arm of the data; the sample ratio
    check then compares the chosen arms with each other (against ``--planned`` when given).
    """
    present = sorted(frame["arm"].unique())
    unknown = [a for a in arms if a not in present]
    if unknown:
        raise AbTestError(
            f"{label}: --arms names {unknown[0]!r}, which is not an arm of column {cfg.arm!r}; "
            f"its arms are: {', '.join(present)}"
        )
    if cfg.control not in arms:
        raise AbTestError(f"--arms {','.join(arms)} leaves out the control arm {cfg.control!r}")
    return frame[frame["arm"].isin(arms)].reset_index(drop=True)


def _arms(cfg: AbConfig, frame: pd.DataFrame, label: str) -> list[str]:
    counts = frame["arm"].value_counts()
    arms = sorted(counts.index)
    if cfg.planned:
        unknown = [a for a in arms if a not in cfg.planned]
        if unknown:
            raise AbTestError(
                f"{label}: unknown arm(s) {unknown}: not in the planned arms {sorted(cfg.planned)}"
            )
        empty = [a for a in cfg.planned if a not in counts.index]
        if empty:
            raise AbTestError(f"{label}: planned arm(s) {empty} have no rows (empty arms)")
    if len(arms) < 2:
        raise AbTestError(
            f"{label}: column {cfg.arm!r} has one arm only ({arms}); an experiment needs two or more"
        )
    if cfg.control not in arms:
        raise AbTestError(f"{label}: control arm {cfg.control!r} is unknown; arms are: {', '.join(arms)}")
    check_arm_sizes({str(k): int(v) for k, v in counts.items()}, cfg.arm, label)
    return [cfg.control, *[a for a in arms if a != cfg.control]]


def check_metrics(cfg: AbConfig, frame: pd.DataFrame, label: str) -> None:
    """Refuse a metric that is the same on every unit, or a ratio whose denominator sums to 0 in an arm.

    ``abtest`` and ``lift`` call it before any estimate: neither has anything to compare then
    (a zero-width interval with p = 1, or a ratio of 0/0).
    """
    for metric in cfg.metrics:
        check_varies(frame[metric].to_numpy(), metric, label, "metric")
    for name, _num, den in cfg.ratios:
        sums = frame.groupby("arm")[den].sum()
        zero = sorted(sums.index[sums == 0])
        if zero:
            raise AbTestError(
                f"{label}: ratio metric {name!r}: column {den!r} sums to 0 in arm {zero[0]!r}, "
                "so its ratio is 0/0; a ratio needs a non-zero denominator in every arm"
            )


def analyse(cfg: AbConfig, frame: pd.DataFrame, label: str) -> pd.DataFrame:
    """Every metric x arm row of ``ml.ab_results`` for one experiment."""
    check_name(cfg.experiment, "experiment name", label)
    check_config(cfg)
    arms = _arms(cfg, frame, label)
    check_metrics(cfg, frame, label)
    by_arm = {a: frame[frame["arm"] == a] for a in arms}
    counts = np.array([len(by_arm[a]) for a in arms])
    planned = np.array([cfg.planned[a] for a in arms]) if cfg.planned else np.ones(len(arms))
    srm_p = abstats.sample_ratio_mismatch(counts, planned)
    x_all = covariate_matrix(frame, cfg.covariates)
    x = {a: x_all[(frame["arm"] == a).to_numpy()] for a in arms}
    looks = {a: by_arm[a]["look"].to_numpy() if "look" in frame.columns else None for a in arms}
    rng = np.random.default_rng(cfg.seed)
    rows: list[dict[str, object]] = []
    for metric in cfg.metrics:
        values = frame[metric].to_numpy()
        binary = bool(np.isin(values, (0.0, 1.0)).all())
        kind = "binary" if binary else "continuous"
        draws = {}
        for a in arms:
            y = by_arm[a][metric].to_numpy()
            if binary:
                draws[a] = abstats.posterior_draws_binary(int(y.sum()), len(y), rng, cfg.draws)
            elif len(y) > 1:
                draws[a] = abstats.posterior_draws_mean(y, rng, cfg.draws)
        bayes = abstats.bayes_summary(draws, cfg.control, cfg.alpha) if len(draws) == len(arms) else {}
        omnibus = np.nan
        if binary and len(arms) > 2:
            counts = np.array(
                [[by_arm[a][metric].sum(), len(by_arm[a]) - by_arm[a][metric].sum()] for a in arms]
            )
            omnibus = float(stats.chi2_contingency(counts, correction=False).pvalue)
        y_c = by_arm[cfg.control][metric].to_numpy()
        tau = cfg.seq_tau * float(np.std(values, ddof=1))
        for a in arms:
            y = by_arm[a][metric].to_numpy()
            comp = None
            extra: dict[str, object] = {}
            if a != cfg.control:
                if binary:
                    comp = abstats.two_proportions(int(y.sum()), len(y), int(y_c.sum()), len(y_c), cfg.alpha)
                else:
                    comp = abstats.welch(y, y_c, cfg.alpha)
                pair = _Pair(y, x[a], looks[a], y_c, x[cfg.control], looks[cfg.control])
                extra = _adjusted_and_sequential(cfg, pair, tau)
            b = bayes.get(a)
            rows.append({**_row(metric, kind, a, cfg, len(y), float(y.mean()), comp, b, omnibus), **extra})
    for name, num, den in cfg.ratios:
        n_c, d_c = by_arm[cfg.control][num].to_numpy(), by_arm[cfg.control][den].to_numpy()
        for a in arms:
            n_a, d_a = by_arm[a][num].to_numpy(), by_arm[a][den].to_numpy()
            ratio, se = abstats.ratio_delta(n_a, d_a)
            comp = abstats.ratio_comparison(n_a, d_a, n_c, d_c, cfg.alpha) if a != cfg.control else None
            row = _row(name, "ratio", a, cfg, len(n_a), ratio, comp, None, np.nan)
            z = stats.norm.ppf(1 - cfg.alpha / 2)
            row.update(value_lower=ratio - z * se, value_upper=ratio + z * se)
            if comp is not None and cfg.sequential:
                row.update(_ratio_sequential(cfg, n_a, d_a, looks[a], n_c, d_c, looks[cfg.control]))
            rows.append(row)
    table = pd.DataFrame(rows)
    for col in _EXTRA_COLUMNS:
        if col not in table.columns:
            table[col] = np.nan
    table["seq_looks"] = table["seq_looks"].astype("Int64")
    table["p_value_holm"] = abstats.holm(table["p_value"].to_numpy(dtype=float))
    table["adj_p_value_holm"] = abstats.holm(table["adj_p_value"].to_numpy(dtype=float))
    table["covariates"] = ",".join(cfg.covariates) if cfg.covariates else None
    table["metric_role"] = ["guardrail" if m in cfg.guardrails else "primary" for m in table["metric"]]
    table["min_effect"] = [cfg.min_effects.get(m, 0.0) for m in table["metric"]]
    table["higher_is_better"] = [m not in cfg.lower_is_better for m in table["metric"]]
    table["srm_p_value"] = srm_p
    table["srm_ok"] = srm_p >= SRM_THRESHOLD
    table["source"] = label
    table["analysed_at"] = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
    return table


#: Columns only some runs fill (adjustment, sequential test): NaN where a run has none.
_EXTRA_COLUMNS = (
    "adj_diff",
    "adj_diff_se",
    "adj_diff_lower",
    "adj_diff_upper",
    "adj_p_value",
    "variance_reduction",
    "seq_p_value",
    "seq_diff_lower",
    "seq_diff_upper",
    "seq_looks",
    "seq_tau",
)


@dataclass(frozen=True)
class _Pair:
    """One treatment arm and the control on one metric: outcomes, covariates, look numbers."""

    y_t: np.ndarray
    x_t: np.ndarray
    look_t: np.ndarray | None
    y_c: np.ndarray
    x_c: np.ndarray
    look_c: np.ndarray | None


def _diff_se(
    y_t: np.ndarray, x_t: np.ndarray, y_c: np.ndarray, x_c: np.ndarray, alpha: float
) -> tuple[float, float]:
    """Return the difference (adjusted when there are covariates) and its unpooled standard error."""
    if x_t.shape[1]:
        adj = adjusted_difference(y_t, x_t, y_c, x_c, alpha)
        return adj.diff, adj.se
    return float(y_t.mean() - y_c.mean()), abstats.unpooled_se(y_t, y_c)


def _over_looks(
    look_t: np.ndarray | None, look_c: np.ndarray | None, estimate: Any
) -> tuple[np.ndarray, np.ndarray]:
    """``estimate(mask_t, mask_c)`` at every look (units of looks 1..k), or once on every unit."""
    if look_t is None or look_c is None:
        d, se = estimate(np.ones(0, bool), None)
        return np.array([d]), np.array([se])
    diffs, ses = [], []
    for k in range(1, int(max(look_t.max(), look_c.max())) + 1):
        m_t, m_c = look_t <= k, look_c <= k
        if m_t.sum() < 2 or m_c.sum() < 2:
            continue  # an arm without two units yet: no standard error at this look
        d, se = estimate(m_t, m_c)
        diffs.append(d)
        ses.append(se)
    return np.array(diffs), np.array(ses)


def _adjusted_and_sequential(cfg: AbConfig, pair: _Pair, tau: float) -> dict[str, object]:
    """Return the adjusted (CUPED) estimate and the sequential test of one comparison as row fields."""
    out: dict[str, object] = {}
    if cfg.covariates:
        out.update(adjusted_fields(adjusted_difference(pair.y_t, pair.x_t, pair.y_c, pair.x_c, cfg.alpha)))
    if cfg.sequential:

        def estimate(m_t: np.ndarray, m_c: np.ndarray | None) -> tuple[float, float]:
            if m_c is None:
                return _diff_se(pair.y_t, pair.x_t, pair.y_c, pair.x_c, cfg.alpha)
            return _diff_se(pair.y_t[m_t], pair.x_t[m_t], pair.y_c[m_c], pair.x_c[m_c], cfg.alpha)

        diffs, ses = _over_looks(pair.look_t, pair.look_c, estimate)
        out.update(_sequential_fields(diffs, ses, tau, cfg.alpha))
    return out


def _ratio_sequential(
    cfg: AbConfig,
    n_t: np.ndarray,
    d_t: np.ndarray,
    look_t: np.ndarray | None,
    n_c: np.ndarray,
    d_c: np.ndarray,
    look_c: np.ndarray | None,
) -> dict[str, object]:
    """Return the sequential test of a ratio metric's difference (delta-method standard errors)."""

    def estimate(m_t: np.ndarray, m_c: np.ndarray | None) -> tuple[float, float]:
        if m_c is None:
            m_t, m_c = np.ones(len(n_t), bool), np.ones(len(n_c), bool)
        comp = abstats.ratio_comparison(n_t[m_t], d_t[m_t], n_c[m_c], d_c[m_c], cfg.alpha)
        return comp.diff, comp.se

    # the scale of a ratio per unit: the spread of its linearisation (num - ratio * den) / mean(den)
    num, den = np.concatenate([n_t, n_c]), np.concatenate([d_t, d_c])
    ratio = num.sum() / den.sum()
    tau = cfg.seq_tau * float(np.std((num - ratio * den) / den.mean(), ddof=1))
    diffs, ses = _over_looks(look_t, look_c, estimate)
    return _sequential_fields(diffs, ses, tau, cfg.alpha)


def _sequential_fields(diffs: np.ndarray, ses: np.ndarray, tau: float, alpha: float) -> dict[str, object]:
    """Row fields of the always-valid result over the looks."""
    if not tau > 0:
        return {"seq_looks": 0, "seq_tau": tau}
    res = always_valid(diffs, ses, tau, alpha)
    return {
        "seq_p_value": res.p_value,
        "seq_diff_lower": res.lower,
        "seq_diff_upper": res.upper,
        "seq_looks": res.looks,
        "seq_tau": tau,
    }


def _row(
    metric: str,
    kind: str,
    arm: str,
    cfg: AbConfig,
    n: int,
    value: float,
    comp: abstats.Comparison | None,
    bayes: abstats.BayesArm | None,
    omnibus: float,
) -> dict[str, object]:
    nan = float("nan")
    return {
        "experiment": cfg.experiment,
        "metric": metric,
        "metric_kind": kind,
        "arm": arm,
        "control_arm": cfg.control,
        "is_control": arm == cfg.control,
        "n_units": n,
        "value": value,
        "value_lower": bayes.lower if bayes else nan,
        "value_upper": bayes.upper if bayes else nan,
        "diff": comp.diff if comp else nan,
        "diff_se": comp.se if comp else nan,
        "diff_lower": comp.diff_lower if comp else nan,
        "diff_upper": comp.diff_upper if comp else nan,
        "lift": comp.lift if comp else nan,
        "lift_lower": bayes.lift_lower if bayes and comp else nan,
        "lift_upper": bayes.lift_upper if bayes and comp else nan,
        "test": comp.test if comp else None,
        "p_value": comp.p_value if comp else nan,
        "omnibus_p_value": omnibus,
        "prob_best": bayes.prob_best if bayes else nan,
        "expected_loss": bayes.expected_loss if bayes else nan,
        "prob_beats_control": bayes.prob_beats_control if bayes and comp else nan,
        "alpha": cfg.alpha,
    }


def warn_srm(table: pd.DataFrame) -> None:
    """Print a loud warning when the arm counts do not match the planned shares."""
    if not bool(table["srm_ok"].iloc[0]):
        bar = "!" * 78
        print(
            f"{bar}\nWARNING: sample ratio mismatch "
            f"(p = {table['srm_p_value'].iloc[0]:.2g} < {SRM_THRESHOLD}): "
            f"the arm counts do not match the planned shares, so randomisation or logging is broken; "
            f"do not trust these comparisons.\n{bar}",
            file=sys.stderr,
            flush=True,
        )


def config_from_options(
    name: str,
    arm: str,
    control: str,
    metrics: list[str],
    ratios: list[str] | None,
    planned: str | None,
    alpha: float,
    draws: int,
    seed: int,
    covariates: list[str],
    sequential: bool = False,
    seq_tau: float | None = None,
    looks_by: str | None = None,
    guardrails: list[str] | None = None,
    min_effects: list[str] | None = None,
    lower_is_better: list[str] | None = None,
) -> AbConfig:
    """Build and check the configuration of ``abtest`` or ``lift`` from their options' text.

    Parameters
    ----------
    name : str
        The experiment (abtest) or analysis (lift) name.
    arm, control : str
        The arm column and the control arm's value.
    metrics : list of str
        Outcome columns.
    ratios : list of str or None
        ``name=numerator/denominator`` ratio metrics; None for a command without them (lift).
    planned : str or None
        Planned shares, ``arm=share,...``.
    alpha, draws, seed
        Interval level, posterior draws and their seed.
    covariates : list of str
        Pre-assignment columns for the regression adjustment.
    sequential, seq_tau, looks_by
        The mixture SPRT and the column ordering its looks.
    guardrails, min_effects, lower_is_better
        What the decision mart reads: ``metric=difference`` for ``min_effects``.

    Returns
    -------
    AbConfig
        The checked configuration; a bad option raises ``AbTestError`` naming it.

    """
    from targeting.core.estimable import check_draws

    cfg = AbConfig(
        experiment=name,
        arm=arm,
        control=control,
        metrics=metrics,
        ratios=[parse_ratio(r) for r in ratios or []],
        planned=parse_planned(planned) if planned else None,
        alpha=alpha,
        draws=draws,
        seed=seed,
        covariates=covariates,
        sequential=sequential,
        seq_tau=DEFAULT_TAU if seq_tau is None else seq_tau,
        looks_by=looks_by,
        guardrails=guardrails or [],
        min_effects=dict(parse_min_effect(t) for t in min_effects or []),
        lower_is_better=lower_is_better or [],
    )
    if not cfg.metrics and not cfg.ratios:
        extra = " or --ratio NAME=NUM/DEN" if ratios is not None else " (a 0/1 conversion or an amount)"
        raise AbTestError(f"name at least one --metric COLUMN{extra}")
    if not 0 < cfg.alpha < 0.5:
        raise AbTestError(f"--alpha must be in (0, 0.5), got {cfg.alpha}")
    check_draws(cfg.draws)
    check_config(cfg)
    return cfg
