"""Variance reduction, sequential tests and planning: checked by simulation, against
statsmodels, and through the command line on a public-style experiment file."""

from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
from scipy import stats
from statsmodels.stats.power import NormalIndPower, TTestIndPower
from statsmodels.stats.proportion import proportion_effectsize

from targeting.cli import main as cli
from targeting.experiments import power
from targeting.experiments.abtest import AbConfig, _adjusted_and_sequential, _Pair
from targeting.experiments.adjust import adjusted_difference

ALPHA = 0.10


@pytest.fixture(autouse=True)
def _reports_in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MM_REPORTS_DIR", str(tmp_path / "reports"))


def _pre_period_experiment(
    rng: np.random.Generator, n: int, effect: float, kind: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Two arms of ``n`` units whose pre-period behaviour predicts the outcome.

    A mean: last period's spend explains most of this period's. A rate: clients who bought
    last period buy again with probability 0.85, the others 0.05 (plus ``effect`` if treated).
    """
    x = rng.gamma(2.0, 10.0, size=(2 * n, 1)) if kind == "mean" else (rng.random((2 * n, 1)) < 0.3) * 1.0
    treated = np.arange(2 * n) < n
    if kind == "mean":
        y = 0.8 * x[:, 0] + rng.normal(0, 6, 2 * n) + effect * treated
    else:
        y = (rng.random(2 * n) < 0.05 + 0.8 * x[:, 0] + effect * treated) * 1.0
    return y[treated], x[treated], y[~treated], x[~treated]


@pytest.mark.parametrize(("kind", "effect"), [("mean", 1.5), ("rate", 0.03)])
def test_adjusted_intervals_cover_the_planted_effect_and_are_narrower(kind: str, effect: float) -> None:
    """Over 2,000 experiments: 90% intervals cover 0.88-0.92 of the time, >= 20% narrower."""
    rng = np.random.default_rng(11)
    covered, ratios = 0, []
    runs = 2000
    for _ in range(runs):
        y_t, x_t, y_c, x_c = _pre_period_experiment(rng, 400, effect, kind)
        adj = adjusted_difference(y_t, x_t, y_c, x_c, ALPHA)
        raw = stats.ttest_ind(y_t, y_c, equal_var=False).confidence_interval(1 - ALPHA)
        covered += adj.lower <= effect <= adj.upper
        ratios.append((adj.upper - adj.lower) / (raw.high - raw.low))
    coverage = covered / runs
    assert 0.88 <= coverage <= 0.92, coverage
    assert np.median(ratios) <= 0.8, np.median(ratios)


def _looks(rng: np.random.Generator, effect: float, days: int = 30, per_day: int = 60) -> _Pair:
    """Units arriving over ``days`` days, each with its day as the look number."""
    n = days * per_day
    look = np.repeat(np.arange(1, days + 1), per_day)
    y_t = rng.normal(effect, 1.0, n)
    y_c = rng.normal(0.0, 1.0, n)
    none = np.empty((n, 0))
    return _Pair(y_t, none, look, y_c, none, look)


def _daily_fixed_p(pair: _Pair) -> np.ndarray:
    """The fixed-sample z-test's p-value at each daily look (what naive peeking reads)."""
    days = int(pair.look_t.max())
    n = np.bincount(pair.look_t, minlength=days + 1)[1:].cumsum()
    stats_by_arm = []
    for y in (pair.y_t, pair.y_c):
        s1 = np.bincount(pair.look_t, weights=y, minlength=days + 1)[1:].cumsum()
        s2 = np.bincount(pair.look_t, weights=y**2, minlength=days + 1)[1:].cumsum()
        mean = s1 / n
        stats_by_arm.append((mean, (s2 - n * mean**2) / (n - 1)))
    (m_t, v_t), (m_c, v_c) = stats_by_arm
    z = (m_t - m_c) / np.sqrt(v_t / n + v_c / n)
    return 2 * stats.norm.sf(np.abs(z))


def test_the_sequential_test_holds_alpha_under_daily_looks_where_peeking_does_not() -> None:
    """600 null experiments, 30 daily looks: mSPRT rejects <= alpha; a daily fixed test far more."""
    rng = np.random.default_rng(3)
    cfg = AbConfig("e", "arm", "c", ["y"], sequential=True, alpha=ALPHA)
    runs = 600
    seq_rejections = naive_rejections = 0
    for _ in range(runs):
        pair = _looks(rng, 0.0)
        out = _adjusted_and_sequential(cfg, pair, 0.05)
        assert out["seq_looks"] == 30
        seq_rejections += out["seq_p_value"] <= ALPHA
        naive_rejections += bool((_daily_fixed_p(pair) <= ALPHA).any())
    assert seq_rejections / runs <= ALPHA, seq_rejections / runs
    assert naive_rejections / runs > 2 * ALPHA, naive_rejections / runs


def test_the_sequential_test_finds_a_real_effect_and_its_sequence_covers_it() -> None:
    rng = np.random.default_rng(4)
    cfg = AbConfig("e", "arm", "c", ["y"], sequential=True, alpha=ALPHA)
    found = covered = 0
    for _ in range(200):
        out = _adjusted_and_sequential(cfg, _looks(rng, 0.12), 0.05)
        found += out["seq_p_value"] <= ALPHA
        covered += out["seq_diff_lower"] <= 0.12 <= out["seq_diff_upper"]
    assert found / 200 >= 0.7, found  # 1,800 units an arm: a 0.12 sd effect is usually found
    assert covered / 200 >= 1 - ALPHA, covered  # the intersection over 30 looks still covers


@pytest.mark.parametrize(
    ("baseline", "mde", "ratio", "alpha", "target"),
    [(0.05, 0.005, 1.0, 0.05, 0.8), (0.2, -0.03, 0.25, 0.1, 0.9), (0.6, 0.02, 3.0, 0.1, 0.8)],
)
def test_rate_plans_agree_with_statsmodels(
    baseline: float, mde: float, ratio: float, alpha: float, target: float
) -> None:
    es = power.effect_size("rate", baseline, mde)
    ref_es = proportion_effectsize(baseline + mde, baseline)
    assert es == pytest.approx(ref_es, rel=1e-12)
    n = power.n_control(es, alpha, target, ratio, "rate")
    ref = NormalIndPower().solve_power(effect_size=ref_es, alpha=alpha, power=target, ratio=ratio)
    assert n == pytest.approx(ref, rel=0.01)
    detectable = power.detectable_effect(2000, alpha, target, ratio, "rate")
    ref_d = NormalIndPower().solve_power(nobs1=2000, alpha=alpha, power=target, ratio=ratio)
    assert detectable == pytest.approx(ref_d, rel=0.01)


@pytest.mark.parametrize(("d", "ratio", "alpha"), [(0.05, 1.0, 0.1), (0.3, 0.5, 0.05), (0.8, 2.0, 0.1)])
def test_mean_plans_agree_with_statsmodels(d: float, ratio: float, alpha: float) -> None:
    n = power.n_control(d, alpha, 0.8, ratio, "mean")
    ref = TTestIndPower().solve_power(effect_size=d, alpha=alpha, power=0.8, ratio=ratio)
    assert n == pytest.approx(ref, rel=0.01)
    for nobs in (30, 1000, 100_000):
        detectable = power.detectable_effect(nobs, alpha, 0.8, ratio, "mean")
        ref_d = TTestIndPower().solve_power(nobs1=nobs, alpha=alpha, power=0.8, ratio=ratio)
        assert detectable == pytest.approx(float(np.squeeze(ref_d)), rel=0.01)


def _public_style_file(path: Path, n: int = 6000) -> None:
    """Three arms, no ids, a pre-period covariate (with gaps), the day each unit arrived."""
    rng = np.random.default_rng(21)
    group = rng.choice(["control", "subject_a", "subject_b"], size=n)
    spend_before = rng.gamma(2.0, 15.0, size=n)
    spend = 0.9 * spend_before + rng.normal(0, 8, n) + np.where(group == "subject_a", 2.5, 0.0)
    frame = pd.DataFrame(
        {
            "Test Group": group,
            "Spend Before": np.where(rng.random(n) < 0.05, np.nan, spend_before),
            "Day": pd.Timestamp("2026-03-01") + pd.to_timedelta(rng.integers(0, 20, n), unit="D"),
            "Spend": spend.round(2),
            "Visited": (rng.random(n) < 0.2 + 0.002 * spend_before).astype(int),
        }
    )
    frame.to_csv(path, index=False)


def test_a_public_style_file_through_plan_adjusted_and_sequential_abtest(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    csv = tmp_path / "hillstrom-like.csv"
    _public_style_file(csv)
    db = tmp_path / "wh.duckdb"
    duckdb.connect(str(db)).close()

    plan = ["plan", "--csv", str(csv), "--metric", "Spend", "--covariate", "Spend Before"]
    assert cli.main([*plan, "--date", "Day", "--mde", "2", "--arms", "3"]) == 0
    out = capsys.readouterr().out
    assert "units per day: 300.0" in out, out
    lines = {
        line.split()[0]: line.split()
        for line in out.splitlines()
        if line.split()[:1] in (["unadjusted"], ["adjusted"])
    }
    r2 = float(lines["adjusted"][1])
    assert 0.6 < r2 < 0.9, out
    # the adjusted test needs (1 - r2) of the units, to the rounding of whole units
    assert int(lines["adjusted"][2]) == pytest.approx((1 - r2) * int(lines["unadjusted"][2]), rel=0.02)

    # the baseline from the control arm only: its rows, its mean; the days count every row
    assert (
        cli.main(
            [*plan, "--date", "Day", "--n-per-arm", "1000", "--arm", "Test Group", "--control", "control"]
        )
        == 0
    )
    out = capsys.readouterr().out
    frame = pd.read_csv(csv)
    control = frame[frame["Test Group"] == "control"]
    assert f"mean {control['Spend'].mean():.4g}" in out and f"arm 'control' ({len(control):,} rows)" in out, (
        out
    )
    assert "units per day: 300.0" in out, out

    base = ["abtest", "--csv", str(csv), "--arm", "Test Group", "--control", "control", "--db", str(db)]
    base += ["--metric", "Spend", "--metric", "Visited"]
    assert cli.main([*base, "--experiment", "adjusted", "--covariate", "Spend Before"]) == 0
    assert "regression-adjusted (CUPED) on Spend Before" in capsys.readouterr().out
    seq = ["--experiment", "sequential", "--covariate", "Spend Before", "--sequential", "--looks-by", "Day"]
    assert cli.main([*base, *seq, "--guardrail", "Visited"]) == 0
    with duckdb.connect(str(db), read_only=True) as con:
        rows = con.execute(
            "select * from ml.ab_results where not is_control order by experiment, metric, arm"
        ).df()
    spend = rows[(rows["metric"] == "Spend") & (rows["experiment"] == "adjusted")].set_index("arm")
    # the planted +2.5 on subject_a: found, and the adjusted interval is much narrower
    a = spend.loc["subject_a"]
    assert a["adj_diff_lower"] <= 2.5 <= a["adj_diff_upper"] and a["adj_p_value"] < 0.001
    assert (spend["adj_diff_se"] < 0.7 * spend["diff_se"]).all()
    assert (spend["variance_reduction"] > 0.5).all()
    assert set(spend["covariates"]) == {"Spend Before"}
    sequential = rows[(rows["experiment"] == "sequential") & (rows["metric"] == "Spend")].set_index("arm")
    assert (sequential["seq_looks"] == 20).all()
    s_a = sequential.loc["subject_a"]
    assert s_a["seq_diff_lower"] > 0 and s_a["seq_p_value"] < ALPHA  # found, at any look
    # the confidence sequence is wider than the one-look adjusted interval: the price of peeking
    assert s_a["seq_diff_upper"] - s_a["seq_diff_lower"] > a["adj_diff_upper"] - a["adj_diff_lower"]
    assert set(rows.loc[rows["experiment"] == "sequential", "metric_role"]) == {"primary", "guardrail"}


PLAN_BAD = {
    "alpha not a number": (
        ["--baseline", "0.1", "--metric-kind", "rate", "--mde", "0.01", "--alpha", "nan"],
        "--alpha must be in (0, 0.5), got nan",
    ),
    "infinite power": (
        ["--baseline", "0.1", "--metric-kind", "rate", "--mde", "0.01", "--power", "inf"],
        "--power must be in (alpha, 1), e.g. 0.8; got inf",
    ),
    "infinite mde": (
        ["--baseline", "0.1", "--metric-kind", "rate", "--mde", "inf"],
        "--mde must be a non-zero number, got inf",
    ),
    "infinite units per day": (
        ["--baseline", "0.1", "--metric-kind", "rate", "--days", "3", "--daily-units", "inf"],
        "--daily-units must be a positive number, got inf",
    ),
    "a rate outside (0, 1)": (
        ["--baseline", "1.5", "--metric-kind", "rate", "--mde", "0.01"],
        "a rate must be in (0, 1)",
    ),
    "a mean without --sd": (
        ["--baseline", "20", "--metric-kind", "mean", "--mde", "1"],
        "needs its standard deviation",
    ),
    "--sd for a rate": (
        ["--baseline", "0.1", "--metric-kind", "rate", "--sd", "3", "--mde", "0.01"],
        "--sd is for a mean",
    ),
    "a baseline without its kind": (["--baseline", "0.1", "--mde", "0.01"], "--baseline needs --metric-kind"),
    "--days without units per day": (
        ["--baseline", "0.1", "--metric-kind", "rate", "--days", "14"],
        "--days needs the units per day",
    ),
    "power below alpha": (
        ["--baseline", "0.1", "--metric-kind", "rate", "--mde", "0.01", "--power", "0.05"],
        "--power must be in (alpha, 1)",
    ),
    "an mde of 0": (
        ["--baseline", "0.1", "--metric-kind", "rate", "--mde", "0"],
        "--mde must be a non-zero number",
    ),
    "an mde past a rate of 1": (
        ["--baseline", "0.9", "--metric-kind", "rate", "--mde", "0.2"],
        "outside (0, 1)",
    ),
    "a ratio of 0": (
        ["--baseline", "0.1", "--metric-kind", "rate", "--mde", "0.01", "--ratio", "0"],
        "--ratio",
    ),
    "one arm": (
        ["--baseline", "0.1", "--metric-kind", "rate", "--mde", "0.01", "--arms", "1"],
        "at least 2, got 1",
    ),
    "variance reduction of 1": (
        ["--baseline", "0.1", "--metric-kind", "rate", "--mde", "0.01", "--variance-reduction", "1"],
        "--variance-reduction must be in [0, 1)",
    ),
    "--relative without --mde": (
        ["--baseline", "0.1", "--metric-kind", "rate", "--n-per-arm", "100", "--relative"],
        "--relative reads --mde",
    ),
    "--daily-units not a number": (
        ["--baseline", "0.1", "--metric-kind", "rate", "--days", "3", "--daily-units", "nan"],
        "--daily-units must be a positive number",
    ),
    "a baseline and a file": (
        ["--baseline", "0.1", "--metric-kind", "rate", "--mde", "0.01", "--csv", "x.csv"],
        "--baseline is given, so --csv has nothing to do",
    ),
    "an unknown column": (
        ["--csv", "{csv}", "--metric", "spend", "--mde", "1"],
        "column 'spend' is not a column of the file; its columns are: day, flag, flag_num, pre, txt, y",
    ),
    "a text covariate": (
        ["--csv", "{csv}", "--metric", "y", "--covariate", "txt", "--mde", "0.1"],
        "covariate column 'txt' of the file is VARCHAR; expected numbers",
    ),
    "a date that is not a date": (
        ["--csv", "{csv}", "--metric", "y", "--date", "pre", "--mde", "0.1"],
        "date column 'pre' of the file is",
    ),
    "a kind the data contradict": (
        ["--csv", "{csv}", "--metric", "y", "--metric-kind", "rate", "--mde", "0.1"],
        "holds a mean, but --metric-kind says rate",
    ),
    "--arm without --control": (
        ["--csv", "{csv}", "--metric", "y", "--arm", "txt", "--mde", "0.1"],
        "--arm and --control go together",
    ),
    "a control no row has": (
        ["--csv", "{csv}", "--metric", "y", "--arm", "txt", "--control", "z", "--mde", "0.1"],
        "no row has 'z' in arm column 'txt'",
    ),
    "a constant outcome": (
        ["--csv", "{csv}", "--metric", "flag_num", "--mde", "0.1"],
        "metric 'flag_num' is 1 on all 4 rows",
    ),
    "both covariates and a variance reduction": (
        [
            "--csv",
            "{csv}",
            "--metric",
            "y",
            "--covariate",
            "pre",
            "--variance-reduction",
            "0.3",
            "--mde",
            "0.1",
        ],
        "not both",
    ),
}


@pytest.mark.parametrize("case", list(PLAN_BAD))
def test_bad_plan_input_is_refused(case: str, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    extra, fragment = PLAN_BAD[case]
    csv = tmp_path / "base.csv"
    pd.DataFrame(
        {
            "y": [1.0, 2.5, 3.0, 7.0],
            "pre": [1, 2, 3, 4],
            "flag": [True] * 4,
            "day": ["2026-01-01"] * 4,
            "txt": list("abcd"),
        }
    ).assign(flag_num=1).to_csv(csv, index=False)
    argv = ["plan", *[a.replace("{csv}", str(csv)) for a in extra]]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert fragment in err, err


def test_lift_adjusts_each_group_and_pools_the_adjusted_differences(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """Six campaigns with a planted +3 on spend; last period's spend predicts this period's."""
    rng = np.random.default_rng(31)
    parts = []
    for k in range(6):
        n = 800
        arm = rng.choice(["holdout", "sent"], size=n)
        before = rng.gamma(2.0, 20.0, n)
        spend = 0.9 * before + rng.normal(0, 10, n) + np.where(arm == "sent", 3.0, 0.0)
        parts.append(pd.DataFrame({"campaign": f"c{k}", "cell": arm, "spend": spend, "spend_before": before}))
    pd.concat(parts).to_csv(tmp_path / "campaigns.csv", index=False)
    db = tmp_path / "wh.duckdb"
    duckdb.connect(str(db)).close()
    argv = ["lift", "--csv", str(tmp_path / "campaigns.csv"), "--analysis", "adj", "--group", "campaign"]
    argv += ["--arm", "cell", "--control", "holdout", "--metric", "spend", "--db", str(db)]
    assert cli.main([*argv, "--covariate", "spend_before"]) == 0
    assert "the pooling above uses these" in capsys.readouterr().out
    assert cli.main([*argv, "--analysis", "raw"]) == 0
    with duckdb.connect(str(db), read_only=True) as con:
        out = con.execute("select * from ml.campaign_lift order by analysis, level, group_value").df()
    adj, raw = out[out["analysis"] == "adj"], out[out["analysis"] == "raw"]
    groups = adj[adj["level"] == "group"]
    assert (groups["adj_diff_se"] < 0.6 * (groups["diff_upper"] - groups["diff_lower"]) / 3.29).all()
    assert (groups["variance_reduction"] > 0.5).all()
    assert raw["adj_diff"].isna().all() and raw["covariates"].isna().all()
    pooled_adj = adj[adj["level"] == "pooled"].iloc[0]
    pooled_raw = raw[raw["level"] == "pooled"].iloc[0]
    assert pooled_adj["pooled_lower"] < 3.0 < pooled_adj["pooled_upper"]
    assert pooled_adj["adj_diff_lower"] < 3.0 < pooled_adj["adj_diff_upper"]
    width = pooled_adj["pooled_upper"] - pooled_adj["pooled_lower"]
    assert width < 0.7 * (pooled_raw["pooled_upper"] - pooled_raw["pooled_lower"])
