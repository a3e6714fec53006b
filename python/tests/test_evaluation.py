"""Evaluation, comparison and the report, on generated data with a known oracle."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from targeting.cli import main as cli
from targeting.models.metrics import expected_calibration_error, metrics_with_intervals, top_share_stats

from .conftest import NO_TESTS, REPO, check_page_in_chromium, run_dbt_in_process

pytestmark = pytest.mark.slow  # builds a warehouse with dbt or fits models

# the mechanics tests fit with reduced samplers, which may fail the diagnostics: they score and
# evaluate with the override (the gate itself is tested in test_plain_table and test_uplift)
EVALUATE = ["evaluate", "--allow-failed-diagnostics"]

SPECS = REPO / "python" / "specs"


@pytest.fixture(scope="module")
def evaluated(synth_raw_scale_01: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Scale-0.1 data, built, fitted with the plain spec and evaluated (both splits)."""
    root = tmp_path_factory.mktemp("evaluated")
    raw, db = synth_raw_scale_01, root / "wh.duckdb"
    # in process, the models the fit and evaluation read and those the ml marts join (built in
    # test_every_split_model_and_metric_is_written), without their tests (every test runs on
    # the shared build)
    select = [
        "+customer_features",
        "+customer_labels",
        "+customer_segments",
        "channels",
        "targeting_economics",
    ]
    res = run_dbt_in_process(
        ["build", "--select", *select, "--exclude", *NO_TESTS], db, {"raw_path": str(raw)}
    )
    assert res.returncode == 0, res.stdout[-3000:]
    env = {"MM_RUNS_DIR": str(root / "runs"), "MM_REPORTS_DIR": str(root / "reports")}
    mp = pytest.MonkeyPatch()
    for k, v in env.items():
        mp.setenv(k, v)
    fast = ["--draws", "250", "--tune", "250", "--chains", "2", "--quiet"]
    assert cli.main(["fit", "--spec", str(SPECS / "purchase_90d.yml"), "--db", str(db), *fast]) == 0
    assert cli.main([*EVALUATE, "--db", str(db), "--bootstrap", "60", "--quiet"]) == 0
    yield {"db": db, "raw": raw, "root": root}
    mp.undo()


def _metric(db: Path, split: str, model: str, metric: str) -> tuple[float, float, float]:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(
            "select value, lower, upper from ml.model_evaluations "
            "where split = ? and model = ? and metric = ?",
            [split, model, metric],
        ).fetchone()


def test_bayesian_model_is_near_the_oracle_and_calibrated(evaluated: dict[str, Path]) -> None:
    db = evaluated["db"]
    oracle = json.loads((evaluated["raw"] / "ground_truth" / "effects.json").read_text())["oracle_auc"]
    auc, lo, hi = _metric(db, "out_of_time", "bayesian", "roc_auc")
    logistic = _metric(db, "out_of_time", "logistic_regression", "roc_auc")[0]
    ece = _metric(db, "out_of_time", "bayesian", "ece")[0]
    print(
        f"bayesian AUC {auc:.3f} [{lo:.3f}, {hi:.3f}], logistic {logistic:.3f}, "
        f"oracle {oracle:.3f}, ECE {ece:.4f}"
    )
    assert lo <= auc <= hi
    assert auc > oracle - 0.08
    assert auc >= logistic - 0.02
    assert ece < 0.02


def test_mart_features_carry_the_generators_signal(evaluated: dict[str, Path]) -> None:
    """A plain logistic regression on all the mart's features, trained on the purchase labels,
    gets close to the oracle AUC on the target file's rows (the mart carries the signal the
    generator planted). On this module's scale-0.1 data, with its tolerance (0.08)."""
    from sklearn.metrics import roc_auc_score

    from targeting.models.baselines import baseline_features, fit_logistic

    labelled = (
        "select f.*, l.purchased_next_90d, l.label_source from marts.customer_features as f "
        "inner join marts.customer_labels as l using (client_id, as_of_date) where f.has_purchase_history"
    )
    with duckdb.connect(str(evaluated["db"]), read_only=True) as con:
        rows = con.execute(labelled).df()
    train = rows[rows["label_source"] == "purchases"]
    test = rows[rows["label_source"] == "target_file"]
    features = baseline_features(train, {"client_id", "as_of_date", "purchased_next_90d", "label_source"})
    model = fit_logistic(train, features, "purchased_next_90d")
    auc = roc_auc_score(test["purchased_next_90d"], model.predict(test))
    oracle = json.loads((evaluated["raw"] / "ground_truth" / "effects.json").read_text())["oracle_auc"]
    print(f"logistic AUC {auc:.3f} vs oracle AUC {oracle:.3f}")
    assert auc > 0.72
    assert auc > oracle - 0.08, (auc, oracle)


def test_every_split_model_and_metric_is_written(evaluated: dict[str, Path]) -> None:
    with duckdb.connect(str(evaluated["db"]), read_only=True) as con:
        combos = con.execute(
            "select split, count(distinct model), count(distinct metric) from ml.model_evaluations group by 1"
        ).fetchall()
        overlap = con.execute(
            "select count(*) from ml.model_evaluations where split = 'held_out_clients' and n_rows = 0"
        ).fetchone()[0]
    assert sorted(combos) == [("held_out_clients", 4, 15), ("out_of_time", 4, 15)]
    assert overlap == 0
    # in process, with the fixture's vars: its parsed project is reused
    res = run_dbt_in_process(
        ["build", "--select", "staging.ml+"], evaluated["db"], {"raw_path": str(evaluated["raw"])}
    )
    assert res.returncode == 0, res.stdout[-3000:]
    with duckdb.connect(str(evaluated["db"]), read_only=True) as con:
        assert con.execute("select count(*) from marts.model_monitoring").fetchone()[0] == 8


def test_report_renders_every_figure_and_fits_the_page_in_chromium(evaluated: dict[str, Path]) -> None:
    reports = list((evaluated["root"] / "reports").glob("*/report.html"))
    assert len(reports) == 1
    pngs = sorted(p.stem for p in reports[0].parent.glob("*.png"))
    assert pngs == sorted(["reliability", "gains", "lift", "forest", "ppc", "scores", "rank"])
    text = reports[0].read_text()
    assert ">nan<" not in text.lower()  # a missing value shows as a dash
    check_page_in_chromium(reports[0], "model")


def test_compare_ranks_the_signal_above_noise(evaluated: dict[str, Path], tmp_path: Path) -> None:
    noise = tmp_path / "noise.yml"
    noise.write_text(
        (SPECS / "purchase_90d.yml")
        .read_text()
        .replace("name: purchase_90d", "name: noise_only")
        .split("formula:")[0]
        + "formula: purchased_next_90d ~ scale(push_share_365d) + scale(sale_line_share)\n"
        + "family: bernoulli\nsampler: {method: nutpie, backend: jax, seed: 3}\n"
    )
    code = cli.main(
        [
            "compare",
            "--allow-failed-diagnostics",
            str(SPECS / "purchase_90d.yml"),
            str(noise),
            "--db",
            str(evaluated["db"]),
            "--draws",
            "100",
            "--tune",
            "100",
            "--chains",
            "2",
            "--quiet",
        ]
    )
    assert code == 0
    table = pd.read_csv(evaluated["root"] / "reports" / "compare-purchase_90d-noise_only.csv")
    print(table[["rank", "spec", "elpd_loo", "elpd_diff", "oot_roc_auc"]])
    assert list(table["spec"]) == ["purchase_90d", "noise_only"]  # sorted by LOO rank
    assert table.loc[0, "elpd_loo"] > table.loc[1, "elpd_loo"]
    assert table.loc[0, "oot_roc_auc"] > table.loc[1, "oot_roc_auc"]


def test_metric_helpers() -> None:
    rng = np.random.default_rng(0)
    p = rng.beta(1, 30, size=20_000)
    y = (rng.random(p.size) < p).astype(int)
    assert expected_calibration_error(y, p) < 0.01
    assert expected_calibration_error(y, np.clip(p * 3, 0, 1)) > 0.03
    lift, capture = top_share_stats(np.array([1, 0, 0, 0, 1, 0, 0, 0, 0, 0]), np.linspace(1, 0, 10), 0.1)
    assert (lift, capture) == (5.0, 0.5)
    m = metrics_with_intervals(y, p, n_boot=30)
    assert m["roc_auc"].lower <= m["roc_auc"].value <= m["roc_auc"].upper


@pytest.mark.parametrize("ties", [False, True])
def test_metrics_equal_scikit_learns(ties: bool) -> None:
    """The one-sort metrics give scikit-learn's values, tied scores included (rounded scores
    tie hundreds of rows: a rule-based baseline's scores do)."""
    from sklearn.calibration import calibration_curve
    from sklearn.metrics import average_precision_score, brier_score_loss, log_loss, roc_auc_score

    from targeting.models.metrics import point_metrics

    rng = np.random.default_rng(3)
    p = rng.beta(1, 20, size=5_000)
    p = np.round(p, 2) if ties else p
    y = (rng.random(p.size) < np.clip(p * 1.5, 0, 1)).astype(int)
    got = point_metrics(y, p)
    q = np.clip(p, 1e-9, 1 - 1e-9)
    prob_true, prob_pred = calibration_curve(y, q, n_bins=10, strategy="quantile")
    edges = np.percentile(q, np.linspace(0, 100, 11))
    counts = np.bincount(np.searchsorted(edges[1:-1], q), minlength=10)
    counts = counts[counts > 0]
    want = {
        "roc_auc": roc_auc_score(y, q),
        "pr_auc": average_precision_score(y, q),
        "log_loss": log_loss(y, q),
        "brier": brier_score_loss(y, q),
        "ece": float(np.sum(counts / counts.sum() * np.abs(prob_true - prob_pred))),
    }
    for name, value in want.items():
        assert got[name] == pytest.approx(value, rel=1e-10, abs=1e-12), name
    order = np.argsort(-q, kind="stable")
    n = int(round(0.1 * len(y)))
    assert got["capture_at_10pct"] == pytest.approx(y[order[:n]].sum() / y.sum())


def test_vectorised_psis_loo_equals_arviz() -> None:
    """compare's PSIS-LOO gives ArviZ's numbers, row by row: rows with a heavy tail, rows with
    ties at the tail's cutoff (ArviZ's own function) and ordinary rows."""
    import warnings

    import arviz as az

    from targeting.models.psis import loo

    rng = np.random.default_rng(5)
    n_rows, chains, draws = 300, 2, 200
    mu = rng.normal(0, 1, size=(chains, draws))
    x = rng.normal(0, 1, size=n_rows)
    y = (rng.random(n_rows) < 0.3).astype(float)
    eta = mu[..., None] * x[None, None, :] - 1
    log_lik = np.where(y == 1, -np.log1p(np.exp(-eta)), -np.log1p(np.exp(eta)))
    log_lik[..., :5] = np.round(log_lik[..., :5], 1)  # ties at the cutoff
    log_lik[..., 5] *= 40  # a heavy tail (large k)
    idata = az.from_dict(posterior={"mu": mu}, log_likelihood={"y": log_lik})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        want = az.loo(idata, pointwise=True, reff=0.9)
    got = loo(log_lik.reshape(-1, n_rows).T, reff=0.9)
    for key in ("elpd_loo", "se", "p_loo", "n_samples", "n_data_points", "warning"):
        assert got[key] == pytest.approx(want[key], rel=1e-10), key
    np.testing.assert_allclose(got["loo_i"].values, want["loo_i"].values, rtol=1e-10)
    np.testing.assert_allclose(got["pareto_k"].values, want["pareto_k"].values, rtol=1e-10)
    assert got["warning"]  # the heavy-tailed row
