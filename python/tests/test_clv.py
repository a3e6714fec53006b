"""``targeting clv``: pymc-marketing's BG/NBD and Gamma-Gamma on a customer table the project did
not make, checked against the simulation's truth out of time; bad input refused in one line."""

from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from targeting.cli import main as cli

from .conftest import check_page_in_chromium, fingerprints


@pytest.fixture(autouse=True)
def _reports_in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MM_REPORTS_DIR", str(tmp_path / "reports"))


#: The simulation's BG/NBD (r, alpha, a, b) and Gamma-Gamma (p, q, v) parameters.
TRUTH = {"r": 0.6, "alpha": 25.0, "a": 1.0, "b": 6.0, "p": 6.0, "q": 4.0, "v": 150.0}


def simulate(n: int, seed: int, observed: float = 365.0, window: float = 90.0) -> pd.DataFrame:
    """Customers who buy and drop out as BG/NBD says and spend as Gamma-Gamma says.

    Each buys at rate ``lambda ~ Gamma(r, alpha)`` while alive, drops out after each repeat
    purchase with probability ``p ~ Beta(a, b)`` and spends ``Gamma(p, nu)`` per purchase with
    ``nu ~ Gamma(q, v)``. The summary is taken at day ``observed``; the actuals count the next
    ``window`` days.
    """
    rng = np.random.default_rng(seed)
    rate = rng.gamma(TRUTH["r"], 1 / TRUTH["alpha"], n)
    dropout = rng.beta(TRUTH["a"], TRUTH["b"], n)
    nu = rng.gamma(TRUTH["q"], 1 / TRUTH["v"], n)
    first = np.floor(rng.uniform(0, observed - 30, n))
    rows = []
    for i in range(n):
        t, times = first[i], [first[i]]
        while True:
            t += rng.exponential(1 / rate[i])
            if t >= observed + window:
                break
            times.append(t)
            if rng.random() < dropout[i]:
                break
        at = np.array(times)
        spend = rng.gamma(TRUTH["p"], 1 / nu[i], len(at))
        before, after = at < observed, at >= observed
        repeat = int(before.sum()) - 1
        rows.append(
            {
                "customer": f"c{i:05d}",
                "repeat_purchases": repeat,
                "days_to_last": float(at[before].max() - first[i]),
                "days_known": float(observed - first[i]),
                "mean_repeat_spend": float(spend[before][1:].mean()) if repeat > 0 else 0.0,
                "purchases_next_90d": int(after.sum()),
                "spend_next_90d": float(spend[after].sum()),
                "snapshot": pd.Timestamp("2025-01-01"),
                "known": True,
                "true_rate": rate[i],
            }
        )
    return pd.DataFrame(rows)


SPEC = """name: simulated
relation: shop.customers
id: customer
as_of: snapshot
frequency: repeat_purchases
recency: days_to_last
age: days_known
monetary: mean_repeat_spend
horizon: 90
method: {method}
sampler: {{draws: {draws}, tune: {draws}, chains: 2, seed: 5}}
evaluation: {{complete: known, purchases: purchases_next_90d, revenue: spend_next_90d}}
"""


def _warehouse(tmp_path: Path, frame: pd.DataFrame) -> Path:
    db = tmp_path / "wh.duckdb"
    with duckdb.connect(str(db)) as con:
        con.execute("create schema shop")
        con.register("frame", frame.drop(columns=["true_rate"], errors="ignore"))
        con.execute("create table shop.customers as select * from frame")
    return db


def test_clv_recovers_simulated_customers_out_of_time(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """4,000 simulated customers, MAP: the parameters, the total and the deciles of the next 90 days."""
    frame = simulate(4000, seed=1)
    db = _warehouse(tmp_path, frame)
    spec = tmp_path / "clv.yml"
    spec.write_text(SPEC.format(method="map", draws=100))
    assert cli.main(["clv", "--spec", str(spec), "--db", str(db), "--quiet"]) == 0
    assert "out of time at 2025-01-01" in capsys.readouterr().out
    with duckdb.connect(str(db), read_only=True) as con:
        run = con.execute("select * from ml.clv_runs").df().iloc[0]
        customers = con.execute("select * from ml.customer_clv").df().set_index("client_id")
        deciles = con.execute("select * from ml.clv_evaluations").df()
    for name, value in TRUTH.items():
        assert run[f"param_{name}"] == pytest.approx(value, rel=0.25), name
    # the total of the next 90 days within 10% (figures: 3,485 predicted, 3,376 made)
    assert run["eval_predicted_purchases"] == pytest.approx(run["eval_actual_purchases"], rel=0.10)
    total = deciles[(deciles["model"] == "bgnbd") & (deciles["decile"] == 0)].iloc[0]
    assert total["predicted_revenue"] == pytest.approx(total["actual_revenue"], rel=0.10)
    # per decile far closer than each customer's own rate so far (0.048 against 0.750)
    assert run["eval_decile_error"] < 0.5 * run["eval_decile_error_naive"]
    predicted = customers.loc[frame["customer"], "expected_purchases"].to_numpy()
    assert np.corrcoef(predicted, frame["true_rate"])[0, 1] > 0.3  # 0.40
    assert len(deciles) == 22 and set(deciles["model"]) == {"bgnbd", "naive"}
    check_page_in_chromium(tmp_path / "reports" / "clv" / run["run_id"] / "report.html", "clv")
    # the same inputs: the same run id, its rows replaced by the same values
    assert cli.main(["clv", "--spec", str(spec), "--db", str(db), "--quiet"]) == 0
    with duckdb.connect(str(db), read_only=True) as con:
        again = con.execute("select * from ml.customer_clv").df().set_index("client_id")
        assert con.execute("select count(*) from ml.clv_runs").fetchone()[0] == 1
    pd.testing.assert_frame_equal(again.loc[customers.index], customers)


def test_sampled_clv_has_intervals(tmp_path: Path) -> None:
    """nutpie on 500 customers: a 90% interval around each mean, from the draws."""
    db = _warehouse(tmp_path, simulate(500, seed=2))
    spec = tmp_path / "clv.yml"
    spec.write_text(SPEC.format(method="nutpie", draws=150))
    argv = ["clv", "--spec", str(spec), "--db", str(db), "--quiet", "--no-evaluation"]
    assert cli.main([*argv, "--allow-failed-diagnostics"]) == 0
    with duckdb.connect(str(db), read_only=True) as con:
        first = con.execute("select * from ml.customer_clv order by client_id").df()
        run = con.execute("select * from ml.clv_runs").df().iloc[0]
    assert "BG/NBD:" in run["diagnostics"] and "r_hat" in run["diagnostics"]
    for name in ("expected_purchases", "expected_order_value", "clv"):
        assert (first[f"{name}_lower"] <= first[name]).all() and (first[name] <= first[f"{name}_upper"]).all()
        assert (first[f"{name}_upper"] > first[f"{name}_lower"]).mean() > 0.99  # draws, not a point
    assert first["p_alive"].between(0, 1).all()


def test_the_filter_applies_before_the_latest_cutoff_is_chosen(tmp_path: Path) -> None:
    earlier = simulate(300, seed=3).assign(snapshot=pd.Timestamp("2024-10-01"))
    db = _warehouse(tmp_path, pd.concat([earlier, simulate(300, seed=4)]))
    spec = tmp_path / "clv.yml"
    spec.write_text(SPEC.format(method="map", draws=100) + "filter: \"snapshot < date '2025-01-01'\"\n")
    assert cli.main(["clv", "--spec", str(spec), "--db", str(db), "--quiet"]) == 0
    with duckdb.connect(str(db), read_only=True) as con:
        run = con.execute("select as_of_date, eval_as_of_date, n_customers from ml.clv_runs").fetchone()
    assert run == (pd.Timestamp("2024-10-01").date(), pd.Timestamp("2024-10-01").date(), 300)


BASE = {
    "customer": ["a", "b", "c", "d"],
    "repeat_purchases": [2, 0, 1, 3],
    "days_to_last": [20.0, 0.0, 5.0, 40.0],
    "days_known": [50.0, 30.0, 10.0, 60.0],
    "mean_repeat_spend": [30.0, 0.0, 12.0, 8.0],
    "purchases_next_90d": [1, 0, 0, 2],
    "spend_next_90d": [25.0, 0.0, 0.0, 20.0],
    "snapshot": [pd.Timestamp("2025-01-01")] * 4,
    "known": [True] * 4,
}

#: case -> (change to the table or the spec, what the one line must say)
BAD = {
    "no repeat buyers": (
        {"repeat_purchases": [0] * 4, "days_to_last": [0.0] * 4},
        "no customer has a repeat purchase",
    ),
    "zero spend of a repeat buyer": (
        {"mean_repeat_spend": [30.0, 0.0, 0.0, 8.0]},
        "'mean_repeat_spend' is 0 or negative for a repeat buyer for 1 customer(s), e.g. 'c'",
    ),
    "negative spend": ({"mean_repeat_spend": [-5.0, 0.0, 12.0, 8.0]}, "is 0 or negative for a repeat buyer"),
    "recency beyond the age": (
        {"days_to_last": [20.0, 0.0, 15.0, 40.0]},
        "'days_to_last' is greater than 'days_known'",
    ),
    "a fractional frequency": (
        {"repeat_purchases": [2.5, 0, 1, 3]},
        "'repeat_purchases' is not a whole number >= 0",
    ),
    "recency without repeats": (
        {"days_to_last": [20.0, 4.0, 5.0, 40.0]},
        "'days_to_last' is not 0 where 'repeat_purchases' is 0",
    ),
    "an empty age": (
        {"days_known": [50.0, None, 10.0, 60.0]},
        "column 'days_known' is empty for 1 customer(s)",
    ),
    "an infinite spend": (
        {"mean_repeat_spend": [30.0, 0.0, float("inf"), 8.0]},
        "column 'mean_repeat_spend' holds 1 infinite value(s)",
    ),
    "a customer twice": ({"customer": ["a", "b", "a", "d"]}, "customer 'a' has two rows"),
    "text frequency": (
        {"repeat_purchases": ["two", "none", "one", "three"]},
        "frequency column 'repeat_purchases' of shop.customers is VARCHAR; expected numbers",
    ),
    "an unknown column": (
        "frequency: purchases",
        "frequency column 'purchases' is not a column of shop.customers",
    ),
    "an unknown key": ("horizn: 30", "unknown key 'horizn' (did you mean 'horizon'?)"),
    "a horizon of 0": ("horizon: 0", "horizon must be a number of time units in (0, 100000], got 0"),
    "another method": ("method: vi", "method is 'vi'; expected one of ('nutpie', 'map')"),
    "another sampler": ("sampler: {method: pymc}", "clv samples with nutpie"),
    "a column in two roles": (
        "recency: days_known",
        "frequency, recency, age and monetary must be four columns",
    ),
    "an evaluation without actuals": (
        "evaluation: {complete: known}",
        "evaluation needs ['purchases', 'revenue']",
    ),
    "an evaluation window unlike the horizon": (
        "evaluation: {complete: known, purchases: purchases_next_90d, revenue: spend_next_90d, "
        "window_end: snapshot}",
        "evaluation.window_end is 0 days after snapshot, but horizon is 90",
    ),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_clv_input_is_refused(case: str, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    change, says = BAD[case]
    table = pd.DataFrame({**BASE, **change}) if isinstance(change, dict) else pd.DataFrame(BASE)
    db = _warehouse(tmp_path, table)
    text = SPEC.format(method="map", draws=100)
    if isinstance(change, str):
        key = change.split(":")[0]
        lines = [line for line in text.splitlines() if not line.startswith(f"{key}:")]
        text = "\n".join([*lines, change]) + "\n"
    spec = tmp_path / "clv.yml"
    spec.write_text(text)
    before = fingerprints(db)
    assert cli.main(["clv", "--spec", str(spec), "--db", str(db), "--quiet"]) == 2
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if "error:" in line]
    assert len(lines) == 1 and says in lines[0], err
    assert fingerprints(db) == before
