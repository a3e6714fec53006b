"""``targeting abtest``: statistics checked against scipy and simulation, any experiment table,
clear errors, and the results staged by dbt."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
from scipy import stats

from targeting.cli import main as cli
from targeting.experiments import abstats
from targeting.experiments.abtest import AbConfig, analyse

from .conftest import check_page_in_chromium, run_dbt_in_process


@pytest.fixture(autouse=True)
def _reports_in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MM_REPORTS_DIR", str(tmp_path / "reports"))


def _experiment(
    rng: np.random.Generator, rates: dict[str, float], spend: dict[str, float], n: int
) -> pd.DataFrame:
    """Units with an arm, a 0/1 purchase (rate per arm) and spend (gamma, mean per arm, if bought)."""
    arms = rng.choice(list(rates), size=n)
    p = np.array([rates[a] for a in arms])
    bought = rng.random(n) < p
    mean_spend = np.array([spend[a] for a in arms])
    amount = np.where(bought, rng.gamma(2.0, mean_spend / 2.0), 0.0)
    return pd.DataFrame({"arm": arms, "purchased": bought.astype(float), "spend": amount, "cost": 0.4})


def test_two_proportion_test_agrees_with_scipy_chi_square() -> None:
    x_t, n_t, x_c, n_c = 230, 2000, 190, 2010
    comp = abstats.two_proportions(x_t, n_t, x_c, n_c)
    table = np.array([[x_t, n_t - x_t], [x_c, n_c - x_c]])
    chi2 = stats.chi2_contingency(table, correction=False)
    assert comp.p_value == pytest.approx(chi2.pvalue, rel=1e-9)
    assert comp.diff == pytest.approx(x_t / n_t - x_c / n_c)
    se = np.sqrt((x_t / n_t) * (1 - x_t / n_t) / n_t + (x_c / n_c) * (1 - x_c / n_c) / n_c)
    assert comp.diff_upper - comp.diff == pytest.approx(stats.norm.ppf(0.95) * se)


def test_welch_interval_is_the_welch_satterthwaite_one() -> None:
    rng = np.random.default_rng(4)
    a, b = rng.normal(10, 3, 300), rng.normal(9.4, 5, 450)
    comp = abstats.welch(a, b)
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    df = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1))
    half = stats.t.ppf(0.95, df) * np.sqrt(va + vb)
    assert comp.diff_lower == pytest.approx(comp.diff - half, rel=1e-9)
    assert comp.p_value == pytest.approx(stats.ttest_ind(a, b, equal_var=False).pvalue)


def test_holm_matches_a_worked_example() -> None:
    # sorted 0.005, 0.01, 0.03, 0.04 -> 4x0.005, 3x0.01, 2x0.03, max(1x0.04, 0.06)
    np.testing.assert_allclose(abstats.holm(np.array([0.01, 0.04, 0.03, 0.005])), [0.03, 0.06, 0.06, 0.02])
    assert np.isnan(abstats.holm(np.array([np.nan, 0.2]))[0])


def test_beta_binomial_posterior_matches_its_closed_form() -> None:
    rng = np.random.default_rng(0)
    draws = abstats.posterior_draws_binary(40, 400, rng, 200_000)
    assert draws.mean() == pytest.approx(41 / 402, abs=5e-4)
    summary = abstats.bayes_summary(
        {"a": draws, "b": abstats.posterior_draws_binary(60, 400, rng, 200_000)}, "a"
    )
    assert summary["b"].prob_best > 0.95 and summary["a"].expected_loss > summary["b"].expected_loss


def test_intervals_cover_the_planted_effects_at_their_level() -> None:
    """Over 300 simulated experiments the 90% intervals cover the true difference (frequentist),
    the true lift (Bayesian) and the true ratio difference close to 90% of the time.

    The band [0.84, 0.96] is 90% plus or minus about 2.5 binomial standard errors at 300
    draws. 8,000 units an arm: with 2,000 (about 200 buyers), the zero-inflated, skewed
    spend's Welch interval covered only 0.83 to 0.91 depending on the seed (scipy's Welch
    test alike), a small-sample property of the data, which docs/experiments.md states."""
    rng = np.random.default_rng(11)
    rates, spend = {"control": 0.10, "treatment": 0.12}, {"control": 50.0, "treatment": 55.0}
    true = {
        "purchased": rates["treatment"] - rates["control"],
        "spend": rates["treatment"] * spend["treatment"] - rates["control"] * spend["control"],
        "spend_per_buyer": spend["treatment"] - spend["control"],
    }
    true_lift = rates["treatment"] / rates["control"] - 1
    hits = {k: 0 for k in [*true, "lift"]}
    cfg = AbConfig(
        "sim", "arm", "control", ["purchased", "spend"], [("spend_per_buyer", "spend", "purchased")]
    )
    cfg.draws = 4000
    n_sims = 300
    for _ in range(n_sims):
        table = analyse(cfg, _experiment(rng, rates, spend, 16_000), "sim")
        row = table[~table["is_control"]].set_index("metric")
        for metric, value in true.items():
            hits[metric] += row.loc[metric, "diff_lower"] <= value <= row.loc[metric, "diff_upper"]
        hits["lift"] += row.loc["purchased", "lift_lower"] <= true_lift <= row.loc["purchased", "lift_upper"]
    coverage = {k: v / n_sims for k, v in hits.items()}
    print(coverage)
    assert all(0.84 <= c <= 0.96 for c in coverage.values()), coverage


#: One experiment's rows of ml.ab_results, without the columns naming the source and the time.
RESULTS = (
    "select * exclude (source, analysed_at) from ml.ab_results where experiment = ? order by metric, arm"
)


def test_a_public_style_csv_with_three_arms_through_the_cli(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """A plain experiment file the project did not generate: its own column names, three arms."""
    rng = np.random.default_rng(5)
    n = 9000
    group = rng.choice(["ctrl", "v1", "v2"], size=n)
    converted = (rng.random(n) < np.where(group == "v2", 0.16, 0.10)).astype(int)
    pd.DataFrame(
        {"user id": np.arange(n), "test group": group, "converted": converted, "revenue": converted * 30.0}
    ).to_csv(tmp_path / "ab.csv", index=False)
    db = tmp_path / "wh.duckdb"
    duckdb.connect(str(db)).close()
    argv = [
        "abtest",
        "--csv",
        str(tmp_path / "ab.csv"),
        "--experiment",
        "landing_page",
        "--arm",
        "test group",
    ]
    argv += ["--control", "ctrl", "--metric", "converted", "--metric", "revenue", "--db", str(db)]
    assert cli.main(argv) == 0
    out = capsys.readouterr().out
    assert "sample ratio check" in out and "wrote 6 rows" in out, out
    with duckdb.connect(str(db), read_only=True) as con:
        rows = con.execute("select * from ml.ab_results where metric = 'converted' order by arm").df()
    assert list(rows["arm"]) == ["ctrl", "v1", "v2"]
    report = tmp_path / "reports" / "experiments" / "abtest_landing_page" / "report.html"
    page = report.read_text()
    assert 'data-figures-expected="4"' in page  # per metric: each arm's value, each arm's difference
    assert ">nan<" not in page.lower()  # the control rows' differences show as a dash
    check_page_in_chromium(report, "abtest")
    v2 = rows.set_index("arm").loc["v2"]
    assert v2["diff_lower"] > 0 and v2["p_value_holm"] < 0.01 and v2["prob_best"] > 0.99
    assert rows["omnibus_p_value"].notna().all()  # three arms: a chi-square across all of them
    assert cli.main(argv) == 0  # a rerun replaces the experiment's rows
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute("select count(*) from ml.ab_results").fetchone()[0] == 6

    # --arms: two arms of the three, exactly as a file holding only those arms' rows
    frame = pd.read_csv(tmp_path / "ab.csv")
    frame[frame["test group"] != "v1"].to_csv(tmp_path / "two.csv", index=False)
    two = ["--experiment", "two_arms", "--arm", "test group", "--control", "ctrl", "--metric", "converted"]
    two += ["--db", str(db)]
    capsys.readouterr()
    assert cli.main(["abtest", "--csv", str(tmp_path / "ab.csv"), *two, "--arms", "ctrl,v2"]) == 0
    out = capsys.readouterr().out
    assert "p_value " in out and "p_value_holm" in out, out  # the raw p beside the adjusted one
    with duckdb.connect(str(db), read_only=True) as con:
        chosen = con.execute(RESULTS, ["two_arms"]).df()
    assert cli.main(["abtest", "--csv", str(tmp_path / "two.csv"), *two]) == 0
    with duckdb.connect(str(db), read_only=True) as con:
        filtered = con.execute(RESULTS, ["two_arms"]).df()
    assert list(chosen["arm"]) == ["ctrl", "v2"]
    pd.testing.assert_frame_equal(chosen, filtered)


def test_sample_ratio_mismatch_is_flagged_loudly(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    frame = pd.DataFrame({"arm": ["a"] * 5000 + ["b"] * 4600, "y": [0.0, 1.0] * 4800})
    frame.to_csv(tmp_path / "srm.csv", index=False)
    argv = ["abtest", "--csv", str(tmp_path / "srm.csv"), "--experiment", "x", "--arm", "arm"]
    assert cli.main([*argv, "--control", "a", "--metric", "y", "--no-write"]) == 0
    captured = capsys.readouterr()
    assert "WARNING: sample ratio mismatch" in captured.err and "MISMATCH" in captured.out
    # the same counts are fine when the plan was 52/48
    assert cli.main([*argv, "--control", "a", "--metric", "y", "--no-write", "--planned", "a=52,b=48"]) == 0
    assert "(ok)" in capsys.readouterr().out


#: Two and three arms of 0/1 outcomes, the cases' common inputs.
TWO_ARMS = {"arm": ["a", "b"] * 5, "y": [0, 1] * 5}
THREE_ARMS = {"arm": ["a", "b", "c"] * 4, "y": [0, 1] * 6}

BAD = {
    "one arm": ({"arm": ["a"] * 10, "y": [0, 1] * 5}, ["--metric", "y"], ["has one arm only (['a'])"]),
    "unknown control arm": (
        TWO_ARMS,
        ["--metric", "y", "--control", "z"],
        ["control arm 'z' is unknown; arms are: a, b"],
    ),
    "empty planned arm": (
        TWO_ARMS,
        ["--metric", "y", "--planned", "a=1,b=1,c=1"],
        ["planned arm(s) ['c'] have no rows (empty arms)"],
    ),
    "arm outside the plan": (
        THREE_ARMS,
        ["--metric", "y", "--planned", "a=1,b=1"],
        ["unknown arm(s) ['c']"],
    ),
    "non-numeric outcome": (
        {"arm": ["a", "b"] * 5, "y": ["high", "low"] * 5},
        ["--metric", "y"],
        ["metric column 'y' of the file is VARCHAR; expected numbers"],
    ),
    "unknown metric name": (
        TWO_ARMS,
        ["--metric", "revenue"],
        ["metric column 'revenue' is not a column of the file; its columns are: arm, y"],
    ),
    "empty outcome values": (
        {"arm": ["a", "b"] * 5, "y": [0, None] * 5},
        ["--metric", "y"],
        ["column 'y' is empty on 5 rows"],
    ),
    "ratio without a denominator": (
        TWO_ARMS,
        ["--ratio", "roas=y"],
        ["ratio metric 'roas=y' is not name=numerator/denominator"],
    ),
    "no metric": (TWO_ARMS, [], ["name at least one --metric"]),
    "--arms naming an arm the data lacks": (
        THREE_ARMS,
        ["--metric", "y", "--arms", "a,d"],
        ["--arms names 'd', which is not an arm of column 'arm'; its arms are: a, b, c"],
    ),
    "--arms without the control": (
        THREE_ARMS,
        ["--metric", "y", "--arms", "b,c"],
        ["--arms b,c leaves out the control arm 'a'"],
    ),
    "--arms with one arm": (
        THREE_ARMS,
        ["--metric", "y", "--arms", "a"],
        ["--arms 'a': expected two or more distinct arm names"],
    ),
    "a covariate that is the metric": (
        {**TWO_ARMS, "pre": [1.0] * 10},
        ["--metric", "y", "--covariate", "y"],
        ["--covariate 'y' is also an outcome of the run"],
    ),
    "a text covariate": (
        {**TWO_ARMS, "pre": ["x"] * 10},
        ["--metric", "y", "--covariate", "pre"],
        ["covariate column 'pre' of the file is VARCHAR; expected numbers"],
    ),
    "an infinite covariate": (
        {**TWO_ARMS, "pre": [1.0] * 9 + [float("inf")]},
        ["--metric", "y", "--covariate", "pre"],
        ["column 'pre' holds 1 infinite value(s)"],
    ),
    "an unknown covariate": (
        TWO_ARMS,
        ["--metric", "y", "--covariate", "spend_before"],
        ["covariate column 'spend_before' is not a column of the file; its columns are: arm, y"],
    ),
    "a covariate named look": (
        {**TWO_ARMS, "look": [1.0] * 10},
        ["--metric", "y", "--covariate", "look"],
        ["share a name the analysis uses for the arm, group or look"],
    ),
    "--looks-by without --sequential": (
        {**TWO_ARMS, "day": [1] * 10},
        ["--metric", "y", "--looks-by", "day"],
        ["--looks-by orders the looks of a sequential test: give --sequential too"],
    ),
    "--looks-by an unknown column": (
        TWO_ARMS,
        ["--metric", "y", "--sequential", "--looks-by", "day"],
        ["looks-by column 'day' is not a column of the file"],
    ),
    "--looks-by with empty values": (
        {**TWO_ARMS, "day": [1, None] * 5},
        ["--metric", "y", "--sequential", "--looks-by", "day"],
        ["column 'day' is empty on 5 rows"],
    ),
    "--sequential-tau of 0": (
        TWO_ARMS,
        ["--metric", "y", "--sequential", "--sequential-tau", "0"],
        ["--sequential-tau must be a positive number"],
    ),
    "--sequential-tau not a number": (
        TWO_ARMS,
        ["--metric", "y", "--sequential", "--sequential-tau", "nan"],
        ["--sequential-tau must be a positive number"],
    ),
    "--guardrail naming no metric": (
        TWO_ARMS,
        ["--metric", "y", "--guardrail", "revenue"],
        ["--guardrail names 'revenue', which is not a metric of this run; its metrics are: y"],
    ),
    "every metric a guardrail": (
        TWO_ARMS,
        ["--metric", "y", "--guardrail", "y"],
        ["every metric is a --guardrail"],
    ),
    "--min-effect without a number": (
        TWO_ARMS,
        ["--metric", "y", "--min-effect", "y=big"],
        ["--min-effect 'y=big' is not metric=number"],
    ),
    "--min-effect below 0": (
        TWO_ARMS,
        ["--metric", "y", "--min-effect", "y=-0.1"],
        ["--min-effect y=-0.1: expected a difference >= 0"],
    ),
    "--lower-is-better naming no metric": (
        TWO_ARMS,
        ["--metric", "y", "--lower-is-better", "cost"],
        ["--lower-is-better names 'cost', which is not a metric of this run"],
    ),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_experiment_input_is_refused(case: str, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    data, extra, fragments = BAD[case]
    pd.DataFrame(data).to_csv(tmp_path / "e.csv", index=False)
    argv = ["abtest", "--csv", str(tmp_path / "e.csv"), "--experiment", "e", "--arm", "arm", "--no-write"]
    if "--control" not in extra:
        argv += ["--control", "a"]
    assert cli.main([*argv, *extra]) == 2
    err = capsys.readouterr().err
    for fragment in fragments:
        assert fragment in err, err


@pytest.mark.slow
def test_results_are_staged_tested_and_decided_by_dbt(warehouse: Path, tmp_path: Path) -> None:
    db = tmp_path / "wh.duckdb"
    shutil.copy(warehouse, db)
    rng = np.random.default_rng(2)
    frame = _experiment(rng, {"email": 0.08, "push": 0.14}, {"email": 40.0, "push": 40.0}, 6000)
    frame.to_csv(tmp_path / "channels.csv", index=False)
    argv = ["abtest", "--csv", str(tmp_path / "channels.csv"), "--experiment", "channel_test", "--arm", "arm"]
    argv += ["--control", "email", "--metric", "purchased", "--ratio", "roas=spend/cost", "--db", str(db)]
    assert cli.main(argv) == 0
    # a second experiment for the decision mart: adjusted, sequential, a guardrail and a minimum effect
    frame.assign(day=np.arange(len(frame)) // 600, pre=rng.normal(size=len(frame))).to_csv(
        tmp_path / "decided.csv", index=False
    )
    decided = ["abtest", "--csv", str(tmp_path / "decided.csv"), "--experiment", "decided", "--arm", "arm"]
    decided += ["--control", "email", "--metric", "purchased", "--metric", "spend", "--db", str(db)]
    decided += ["--covariate", "pre", "--sequential", "--looks-by", "day", "--guardrail", "spend"]
    assert cli.main([*decided, "--min-effect", "purchased=0.02"]) == 0
    res = run_dbt_in_process(["build", "--select", "staging.ml+"], db)
    assert res.returncode == 0, res.stdout[-3000:]
    with duckdb.connect(str(db), read_only=True) as con:
        rows = con.execute(
            "select arm, decision, is_recommended from marts.ab_test_results "
            "where experiment = 'channel_test' and metric = 'purchased' order by arm"
        ).fetchall()
    assert rows == [("email", "control", False), ("push", "better than control", True)]
    with duckdb.connect(str(db), read_only=True) as con:
        decisions = con.execute(
            "select metric, metric_role, interval_kind, metric_decision, arm_decision "
            "from marts.experiment_decisions where experiment = 'decided' order by metric"
        ).fetchall()
    # +6 points of conversion against a minimum of 2, found at any look; spend not harmed
    assert decisions == [
        ("purchased", "primary", "sequential", "ship", "ship"),
        ("spend", "guardrail", "sequential", "ship", "ship"),
    ]
