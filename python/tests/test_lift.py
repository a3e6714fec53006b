"""``targeting lift`` and partial pooling: the posterior checked by brute force and by
calibration, any grouped experiment table, clear errors, and the planted campaign lifts of
generated data recovered through dbt."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
from scipy import stats

from targeting.cli import main as cli
from targeting.experiments.pooling import partial_pooling

from .conftest import check_page_in_chromium, run_dbt_in_process


@pytest.fixture(autouse=True)
def _reports_in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MM_REPORTS_DIR", str(tmp_path / "reports"))


def test_pooled_posterior_matches_brute_force_integration() -> None:
    """The grid-and-conditionals posterior equals a direct 2-D integration over (mu, tau)."""
    y = np.array([28.0, 8, -3, 7, -1, 1, 18, 12])  # the eight schools
    se = np.array([15.0, 10, 16, 11, 9, 11, 10, 18])
    s = 20.0
    fit = partial_pooling(y, se, prior_scale=s, draws=200_000, seed=3)
    mu, tau = np.meshgrid(np.linspace(-80, 80, 801), np.linspace(0, 60, 601), indexing="ij")
    logp = stats.norm.logpdf(mu, 0, s) + stats.halfnorm.logpdf(tau, scale=s / 2)
    for yj, sj in zip(y, se, strict=True):
        logp += stats.norm.logpdf(yj, mu, np.sqrt(sj**2 + tau**2))
    w = np.exp(logp - logp.max())
    w /= w.sum()
    assert fit.mu_mean == pytest.approx((w * mu).sum(), abs=0.05)
    assert fit.tau_mean == pytest.approx((w * tau).sum(), abs=0.05)
    shrink = tau**2 / (tau**2 + se[0] ** 2)
    assert fit.theta_mean[0] == pytest.approx((w * (mu + shrink * (y[0] - mu))).sum(), abs=0.05)
    cdf = np.cumsum(w.sum(axis=1))
    grid = mu[:, 0]
    assert fit.mu_lower == pytest.approx(grid[np.searchsorted(cdf, 0.05)], abs=0.3)
    assert fit.mu_upper == pytest.approx(grid[np.searchsorted(cdf, 0.95)], abs=0.3)
    # every group is pulled toward the mean, the noisiest the most
    assert np.all(np.abs(fit.theta_mean - fit.mu_mean) < np.abs(y - fit.mu_mean) + 1e-9)


def test_pooled_intervals_are_calibrated_when_effects_follow_the_model() -> None:
    """Effects drawn from the prior: 90% intervals of theta, mu and a new group cover 90%."""
    rng = np.random.default_rng(11)
    hits: dict[str, list[bool]] = {"theta": [], "mu": [], "new": []}
    for rep in range(600):
        mu = rng.normal(0, 1)
        tau = abs(rng.normal(0, 0.5))
        theta = rng.normal(mu, tau, 6)
        se = rng.uniform(0.2, 1.5, 6)
        fit = partial_pooling(rng.normal(theta, se), se, prior_scale=1.0, draws=3000, seed=rep)
        hits["theta"].extend((fit.theta_lower <= theta) & (theta <= fit.theta_upper))
        hits["mu"].append(fit.mu_lower <= mu <= fit.mu_upper)
        new = rng.normal(mu, tau)
        hits["new"].append(fit.new_lower <= new <= fit.new_upper)
    coverage = {k: float(np.mean(v)) for k, v in hits.items()}
    print(coverage)
    assert 0.88 <= coverage["theta"] <= 0.92, coverage  # 3,600 intervals: sd 0.005
    assert 0.86 <= coverage["mu"] <= 0.94 and 0.86 <= coverage["new"] <= 0.94, coverage  # sd 0.012


def _grouped_csv(path: Path, rng: np.random.Generator) -> pd.DataFrame:
    """A plain file the project did not make: its own names, three arms, eight stores."""
    rows = []
    for k in range(8):
        n = 600 + 150 * k
        arm = rng.choice(["holdout", "sms", "app"], size=n, p=[0.3, 0.35, 0.35])
        p = 0.05 + np.where(arm == "app", 0.04, 0.0) + np.where(arm == "sms", 0.01 * (k % 3), 0.0)
        bought = (rng.random(n) < p).astype(int)
        rows.append(
            pd.DataFrame(
                {
                    "shopper": np.arange(n) + 10_000 * k,
                    "store": f"store {k}",
                    "cell": arm,
                    "bought": bought,
                    "spend": bought * rng.gamma(2.0, 20.0, n),
                    "in_window": k != 7 or np.arange(n) % 2 == 0,
                }
            )
        )
    frame = pd.concat(rows, ignore_index=True)
    frame.to_csv(path, index=False)
    return frame


def test_a_grouped_csv_with_three_arms_through_the_cli(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    frame = _grouped_csv(tmp_path / "stores.csv", np.random.default_rng(8))
    db = tmp_path / "wh.duckdb"
    duckdb.connect(str(db)).close()
    argv = ["lift", "--csv", str(tmp_path / "stores.csv"), "--analysis", "store_test", "--group", "store"]
    argv += ["--arm", "cell", "--control", "holdout", "--metric", "bought", "--metric", "spend"]
    argv += ["--keep-if", "in_window", "--planned", "holdout=0.3,sms=0.35,app=0.35", "--db", str(db)]
    assert cli.main(argv) == 0
    assert "wrote 36 rows" in capsys.readouterr().out  # 2 metrics x 2 arms x (8 groups + pooled)
    with duckdb.connect(str(db), read_only=True) as con:
        out = con.execute("select * from ml.campaign_lift where metric = 'bought'").df()
    kept = frame[frame["in_window"]]
    g = kept[kept["store"] == "store 7"]
    row = out[(out["group_value"] == "store 7") & (out["arm"] == "app")].iloc[0]
    assert row["n_treated"] == (g["cell"] == "app").sum()  # --keep-if dropped half of store 7
    want = g.loc[g["cell"] == "app", "bought"].mean() - g.loc[g["cell"] == "holdout", "bought"].mean()
    assert row["diff"] == pytest.approx(want)
    app = out[(out["arm"] == "app") & (out["level"] == "pooled")].iloc[0]
    assert app["pooled_lower"] > 0 and app["prob_positive"] > 0.99  # the planted +4 points
    assert app["pooled_lower"] < 0.04 < app["pooled_upper"]
    groups = out[(out["arm"] == "app") & (out["level"] == "group")]
    # partial pooling narrows the groups' intervals
    assert (groups["pooled_upper"] - groups["pooled_lower"]).mean() < (
        groups["diff_upper"] - groups["diff_lower"]
    ).mean()
    assert (groups["p_value_holm"] >= groups["p_value"]).all()
    assert out["srm_ok"].all()
    check_page_in_chromium(tmp_path / "reports" / "experiments" / "lift_store_test" / "report.html", "lift")
    assert cli.main(argv) == 0  # a rerun replaces the analysis's rows
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute("select count(*) from ml.campaign_lift").fetchone()[0] == 36


BAD = {
    "one arm": (lambda f: f.assign(cell="holdout"), [], "has one arm only"),
    "unknown control": (lambda f: f, ["--control", "ctrl"], "control arm 'ctrl' is unknown"),
    "a group without an arm": (
        lambda f: f[~((f["store"] == "store 2") & (f["cell"] == "sms"))],
        [],
        "group 'store 2' has no rows in arm(s) ['sms']",
    ),
    "text outcome": (
        lambda f: f.assign(bought="bought it"),
        [],
        "metric column 'bought' of the file is VARCHAR",
    ),
    "keep-if not boolean": (
        lambda f: f,
        ["--keep-if", "spend"],
        "keep-if column 'spend' of the file is DOUBLE; expected true/false",
    ),
    "unknown group column": (lambda f: f, ["--group", "region"], "group column 'region' is not a column"),
    "a metric named like the group": (
        lambda f: f.assign(group=f["bought"]),
        ["--metric", "group"],
        "share a name the analysis uses for the arm, group or look",
    ),
    "constant outcome": (lambda f: f.assign(bought=0), [], "metric 'bought' is 0 on all"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_lift_input_is_refused(case: str, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    change, extra, message = BAD[case]
    frame = _grouped_csv(tmp_path / "good.csv", np.random.default_rng(8))
    change(frame).to_csv(tmp_path / "bad.csv", index=False)
    db = tmp_path / "wh.duckdb"
    argv = ["lift", "--csv", str(tmp_path / "bad.csv"), "--analysis", "a", "--group", "store"]
    argv += ["--arm", "cell", "--control", "holdout", "--metric", "bought", "--db", str(db)]
    overrides = dict(zip(extra[::2], extra[1::2], strict=True))
    for flag, value in overrides.items():
        if flag in argv:
            argv[argv.index(flag) + 1] = value
        else:
            argv += [flag, value]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err, err
    assert not db.exists()  # nothing written


@pytest.mark.slow
def test_planted_campaign_lifts_are_recovered_through_dbt(
    holdouts_built: tuple[Path, Path], tmp_path: Path
) -> None:
    """Generated holdouts (20 campaigns): dbt's outcome mart equals a recount from the raw
    files, and the true lifts fall inside the partially pooled 90% intervals."""
    raw, db = holdouts_built[0], tmp_path / "wh.duckdb"
    shutil.copy(holdouts_built[1], db)

    # the mart, recounted from the raw files with pandas
    assigned = pd.read_csv(raw / "campaign_assignments.csv", dtype={"client_id": "int64"})
    lines = pd.read_csv(raw / "apparel-purchases.csv", dtype={"client_id": "int64"})
    orders = lines.groupby(["client_id", "date", "message_id"], as_index=False).size()
    merged = assigned.merge(orders, on="client_id", how="left")
    start = pd.to_datetime(merged["assigned_at"]).dt.normalize()
    day = pd.to_datetime(merged["date"])
    merged["hit"] = (day >= start) & (day < start + pd.Timedelta(days=14))
    recount = merged.groupby(["bulk_campaign_id", "client_id"])["hit"].sum().rename("orders").reset_index()
    with duckdb.connect(str(db), read_only=True) as con:
        mart = con.execute(
            "select bulk_campaign_id, client_id, orders_in_window, window_complete "
            "from marts.campaign_holdout_outcomes"
        ).df()
    both = recount.merge(mart, on=["bulk_campaign_id", "client_id"], how="outer", validate="one_to_one")
    assert len(both) == len(assigned) and (both["orders"] == both["orders_in_window"]).all()
    assert both["window_complete"].all()

    argv = ["lift", "--relation", "marts.campaign_holdout_outcomes", "--analysis", "holdouts"]
    argv += ["--group", "bulk_campaign_id", "--arm", "variant", "--control", "control"]
    argv += ["--metric", "converted", "--keep-if", "window_complete", "--db", str(db)]
    assert cli.main(argv + ["--planned", "control=0.2,treatment=0.8"]) == 0
    with duckdb.connect(str(db), read_only=True) as con:
        lift = con.execute("select * from ml.campaign_lift").df()
        control_rate = con.execute(
            "select cast(bulk_campaign_id as varchar) as group_value, avg(converted) as base "
            "from marts.campaign_holdout_outcomes where is_control group by all"
        ).df()
    # truth: a treated client buys because of the message with probability true_uplift; the
    # lift of "bought in the window" is that times the chance they would not have bought anyway
    truth = pd.read_parquet(raw / "ground_truth" / "ab_true_uplift.parquet")
    treated = truth[truth["variant"] == "treatment"].astype({"bulk_campaign_id": str})
    true = treated.groupby("bulk_campaign_id")["true_uplift"].agg(["mean", "size"]).reset_index()
    true = true.rename(columns={"bulk_campaign_id": "group_value"}).merge(control_rate)
    true["lift"] = true["mean"] * (1 - true["base"])
    groups = lift[lift["level"] == "group"].merge(true, on="group_value")
    assert len(groups) == 20
    inside = (groups["pooled_lower"] <= groups["lift"]) & (groups["lift"] <= groups["pooled_upper"])
    print(groups[["group_value", "lift", "pooled_lower", "pooled_upper", "diff_lower", "diff_upper"]])
    assert inside.sum() >= 16, groups  # 90% intervals: 18 of 20 expected
    pooled = lift[lift["level"] == "pooled"].iloc[0]
    mean_lift = float(true["lift"].mean())
    assert pooled["pooled_lower"] <= mean_lift <= pooled["pooled_upper"]
    assert pooled["pooled_lower"] > 0  # the campaigns do move buyers
    assert lift["srm_ok"].all()

    # staged and decided by dbt
    res = run_dbt_in_process(["build", "--select", "stg_ml__campaign_lift+"], db, {"raw_path": str(raw)})
    assert res.returncode == 0, res.stdout[-3000:]
    with duckdb.connect(str(db), read_only=True) as con:
        decision = con.execute(
            "select decision from marts.campaign_lift where level = 'pooled' and analysis = 'holdouts'"
        ).fetchone()[0]
    assert decision == "positive"
