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
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
from scipy import stats

from targeting import abstats
from targeting.binding import Role, bind
from targeting.estimable import check_arm_sizes, check_finite, check_varies
from targeting.paths import literal_pattern
from targeting.settings import default_db, manifest_path
from targeting.sqlsafe import check_name, ident
from targeting.warehouse import connect

#: Below this sample-ratio-mismatch p-value the randomisation is taken to be broken.
SRM_THRESHOLD = 0.001


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


def _csv_table(csv: Path) -> duckdb.DuckDBPyConnection:
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
    reserved = [c for c in columns if c in ("arm", "group")]
    if reserved:
        raise AbTestError(
            f"metric column(s) {reserved} share a name the analysis uses for the arm or group; "
            "rename them in a view or the CSV"
        )
    if (csv is None) == (relation is None):
        raise AbTestError("give exactly one of --csv FILE or --relation SCHEMA.TABLE")
    if csv is not None:
        opened, name, label = _csv_table(csv), "main.experiment", str(csv)
    else:
        # the warehouse as every command opens it: a missing or locked file is a clear error
        opened, name, label = connect(db or default_db()), str(relation), "--relation"
    with opened as con:
        # one binding step (targeting.binding), as every command's
        roles = [Role(cfg.arm, "arm")]
        need = "numbers (0/1 for a conversion, amounts for revenue)"
        roles += [Role(c, "metric", "number", need) for c in columns]
        if group is not None:
            roles.append(Role(group, "group"))
        if keep_if is not None:
            roles.append(Role(keep_if, "keep-if", "boolean"))
        if csv is not None:
            rel = bind(con, name, roles, label, shown="the file")
        else:
            rel = bind(con, name, roles, "--relation", manifest_path())
            label = rel.label
        select = [f"cast({ident(cfg.arm)} as varchar) as arm"]
        select += [f"cast({ident(c)} as double) as {ident(c)}" for c in columns]
        where = ""
        if group is not None:
            select.append(f"cast({ident(group)} as varchar) as {ident('group')}")
        if keep_if is not None:
            where = f" where {ident(keep_if)}"
        frame = con.execute(f"select {', '.join(select)} from {rel.sql}{where}").df()
    if frame.empty:
        raise AbTestError(f"{label}: no rows to analyse" + (f" where {keep_if} is true" if keep_if else ""))
    for col in frame.columns:
        empty = int(frame[col].isna().sum())
        if empty:
            name = {"arm": cfg.arm, "group": group}.get(col, col)
            raise AbTestError(
                f"{label}: column {name!r} is empty on {empty:,} rows; every unit needs a value"
            )
    check_finite(frame, {c: c for c in columns}, label)
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
    check_arm_sizes(counts.to_dict(), cfg.arm, label)
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
    arms = _arms(cfg, frame, label)
    check_metrics(cfg, frame, label)
    by_arm = {a: frame[frame["arm"] == a] for a in arms}
    counts = np.array([len(by_arm[a]) for a in arms])
    planned = np.array([cfg.planned[a] for a in arms]) if cfg.planned else np.ones(len(arms))
    srm_p = abstats.sample_ratio_mismatch(counts, planned)
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
            table = np.array(
                [[by_arm[a][metric].sum(), len(by_arm[a]) - by_arm[a][metric].sum()] for a in arms]
            )
            omnibus = float(stats.chi2_contingency(table, correction=False).pvalue)
        y_c = by_arm[cfg.control][metric].to_numpy()
        for a in arms:
            y = by_arm[a][metric].to_numpy()
            comp = None
            if a != cfg.control:
                if binary:
                    comp = abstats.two_proportions(int(y.sum()), len(y), int(y_c.sum()), len(y_c), cfg.alpha)
                else:
                    comp = abstats.welch(y, y_c, cfg.alpha)
            b = bayes.get(a)
            rows.append(_row(metric, kind, a, cfg, len(y), float(y.mean()), comp, b, omnibus))
    for name, num, den in cfg.ratios:
        n_c, d_c = by_arm[cfg.control][num].to_numpy(), by_arm[cfg.control][den].to_numpy()
        for a in arms:
            n_a, d_a = by_arm[a][num].to_numpy(), by_arm[a][den].to_numpy()
            ratio, se = abstats.ratio_delta(n_a, d_a)
            comp = abstats.ratio_comparison(n_a, d_a, n_c, d_c, cfg.alpha) if a != cfg.control else None
            row = _row(name, "ratio", a, cfg, len(n_a), ratio, comp, None, np.nan)
            z = stats.norm.ppf(1 - cfg.alpha / 2)
            row.update(value_lower=ratio - z * se, value_upper=ratio + z * se)
            rows.append(row)
    table = pd.DataFrame(rows)
    table["p_value_holm"] = abstats.holm(table["p_value"].to_numpy(dtype=float))
    table["srm_p_value"] = srm_p
    table["srm_ok"] = srm_p >= SRM_THRESHOLD
    table["source"] = label
    table["analysed_at"] = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
    return table


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
