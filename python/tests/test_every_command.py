"""One generated table through every command: each takes the same rows, or refuses for the same reason.

The table has what a public marketing table has and the generator's do not: no id column,
missing values, a text column, a constant column, and (in the refusal cases) an infinite
value or an outcome that never varies. ``fit``, ``score`` (both engines), ``evaluate --cv``
with its baselines, ``uplift`` and ``segment`` read it under one missing-value policy (drop)
and one row key (``row-N`` by the row's place in the order of all the columns); ``abtest``
reads it as an experiment. The row keys the commands write are checked against keys computed
here, in pandas, from the rule docs/specs.md documents.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
import yaml

from targeting.cli import main as cli

from .conftest import fingerprints, table_warehouse

pytestmark = pytest.mark.slow  # fits models

N = 600
FAST = ["--draws", "200", "--tune", "200", "--chains", "2", "--quiet"]
# reduced samplers may fail the diagnostics gate: these tests are about rows, not convergence
GATE = "--allow-failed-diagnostics"


def _people(seed: int = 3) -> pd.DataFrame:
    """Units with a planted response to the arm and to spend and visits; 6% miss their spend."""
    rng = np.random.default_rng(seed)
    spend = rng.lognormal(3, 1, N)
    visits = rng.poisson(3, N).astype(float)  # a DOUBLE column: it can hold inf
    arm = rng.choice(["control", "mail"], N)
    region = rng.choice(["north", "south", "east", "west"], N)
    eta = (
        -1
        + 0.6 * (np.log1p(spend) - 3)
        + 0.3 * (visits - 3)
        + np.where(arm == "mail", 0.4 + 0.3 * (visits > 3), 0)
    )
    responded = (rng.random(N) < 1 / (1 + np.exp(-eta))).astype(int)
    spend[rng.random(N) < 0.06] = np.nan
    return pd.DataFrame(
        {
            "region": region,
            "spend": spend,
            "visits": visits,
            "channel_count": 1,  # constant: the baselines must cope, nothing may divide by its spread
            "arm": arm,
            "responded": responded,
        }
    )


def _row_keys(frame: pd.DataFrame) -> pd.Series:
    """The documented row key: ``row-N``, N the row's place when sorted by every column, nulls last."""
    order = frame.sort_values(list(frame.columns), na_position="last", kind="stable").index
    keys = pd.Series("", index=frame.index, dtype=object)
    keys[order] = [f"row-{n}" for n in range(1, len(frame) + 1)]
    return keys


def _specs(tmp_path: Path) -> dict[str, Path]:
    sampler = {"method": "nutpie", "backend": "jax", "draws": 200, "tune": 200, "chains": 2, "seed": 5}
    raw = {
        "model": {
            "name": "every",
            "relation": "lab.people",
            "label": "responded",
            "formula": "responded ~ scale(log1p(spend)) + scale(visits) + region",
            "sampler": {"method": "nutpie", "backend": "jax", "seed": 5},
        },
        "uplift": {
            "name": "every_uplift",
            "relation": "lab.people",
            "arm": "arm",
            "control": "control",
            "outcome": "responded",
            "features": ["log1p(spend)", "visits", "region"],
            "models": ["two_model"],
            "bootstrap": 20,
            "sampler": sampler,
        },
        "segment": {
            "name": "every_segment",
            "relation": "lab.people",
            "features": ["spend", "visits", "region"],  # region is text: a category
            "missing": "drop",
            "k": 2,
            "seed": 1,
        },
    }
    paths = {}
    for kind, spec in raw.items():
        paths[kind] = tmp_path / f"{kind}.yml"
        paths[kind].write_text(yaml.safe_dump(spec, sort_keys=False))
    return paths


@pytest.fixture
def people(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, pd.DataFrame]:
    """A DuckDB file holding ``lab.people`` (and nothing else); private runs and reports folders."""
    frame = _people()
    return table_warehouse(tmp_path, monkeypatch, "lab.people", frame, "people"), frame


def _query(db: Path, sql: str) -> pd.DataFrame:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(sql).df()


def test_every_command_takes_the_same_rows_under_the_same_keys(
    people: tuple[Path, pd.DataFrame], tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    db, frame = people
    specs = _specs(tmp_path)
    keys = _row_keys(frame)
    complete = set(keys[frame["spend"].notna()])
    n_dropped = N - len(complete)
    assert 0 < n_dropped < 60

    assert cli.main(["fit", "--spec", str(specs["model"]), "--db", str(db), *FAST[:-1]]) == 0
    err = capsys.readouterr().err
    assert f"{len(complete):,} training rows" in err, err
    assert f"{n_dropped:,} of the {N:,} labelled rows dropped for a missing predictor" in err, err
    for engine in ("fast", "sql"):
        assert cli.main(["score", GATE, "--db", str(db), "--engine", engine, "--quiet"]) == 0
        scored = _query(db, "select client_id from ml.customer_scores")
        assert set(scored["client_id"]) == complete, engine
    # compile-sql's statement, run by hand, computes the same keys and probabilities
    out = tmp_path / "score.sql"
    assert cli.main(["compile-sql", "--db", str(db), "--out", str(out)]) == 0
    compiled = _query(db, out.read_text()).set_index("client_id")["p_mean"]
    sql = _query(db, "select client_id, p_mean from ml.customer_scores").set_index("client_id")["p_mean"]
    assert set(compiled.index) == complete and np.allclose(compiled.reindex(sql.index), sql, atol=1e-9)
    cv = ["--cv", "2", "--bootstrap", "20", "--no-report", "--quiet"]
    assert cli.main(["evaluate", GATE, "--db", str(db), *cv]) == 0
    evaluated = _query(db, "select model, n_rows from ml.model_evaluations")
    # the Bayesian model and both baselines, on the same rows (the text and constant columns too)
    assert set(evaluated["model"]) == {"bayesian", "logistic_regression", "gradient_boosting"}
    assert set(evaluated["n_rows"]) == {len(complete)}

    assert cli.main(["uplift", "--spec", str(specs["uplift"]), "--db", str(db), GATE, "--quiet"]) == 0
    assert set(_query(db, "select unit_id from ml.uplift_scores")["unit_id"]) == complete

    assert cli.main(["segment", "--spec", str(specs["segment"]), "--db", str(db), "--quiet"]) == 0
    assert set(_query(db, "select client_id from ml.customer_clusters")["client_id"]) == complete

    # abtest reads the arms and the outcome, none of which is missing: every row
    args = ["abtest", "--experiment", "every", "--relation", "lab.people", "--arm", "arm"]
    assert cli.main([*args, "--control", "control", "--metric", "responded", "--db", str(db)]) == 0
    n_units = _query(db, "select sum(n_units) as n from ml.ab_results where experiment = 'every'")["n"]
    assert int(n_units.iloc[0]) == N
    # adjusted on a covariate with missing values (filled and flagged) and sequential: every row too
    adjusted = ["--experiment", "adjusted", "--covariate", "spend", "--covariate", "visits", "--sequential"]
    assert cli.main([*args, *adjusted, "--control", "control", "--metric", "responded", "--db", str(db)]) == 0
    adj = _query(db, "select * from ml.ab_results where experiment = 'adjusted'")
    assert int(adj["n_units"].sum()) == N
    treated = adj[~adj["is_control"]]
    assert (treated["adj_diff_se"] < treated["diff_se"]).all() and (treated["seq_looks"] == 1).all()
    # plan takes its baseline and the covariates' share of variance from the same table
    capsys.readouterr()
    plan = [
        "plan",
        "--relation",
        "lab.people",
        "--metric",
        "responded",
        "--covariate",
        "spend",
        "--mde",
        "0.05",
    ]
    assert cli.main([*plan, "--db", str(db)]) == 0
    out = capsys.readouterr().out
    assert f"({N:,} rows)" in out and "adjusted" in out, out

    # the same rows stored in another order: the same keys, so the same scores and clusters
    before = {
        "scores": _query(db, "select client_id, p_mean from ml.customer_scores order by 1"),
        "clusters": _query(db, "select client_id, cluster from ml.customer_clusters order by 1"),
    }
    with duckdb.connect(str(db)) as con:
        con.execute("create or replace table lab.people as select * from lab.people order by random()")
    assert cli.main(["score", GATE, "--db", str(db), "--engine", "sql", "--quiet"]) == 0  # as before
    assert cli.main(["segment", "--spec", str(specs["segment"]), "--db", str(db), "--quiet"]) == 0
    after = {
        "scores": _query(db, "select client_id, p_mean from ml.customer_scores order by 1"),
        "clusters": _query(db, "select client_id, cluster from ml.customer_clusters order by 1"),
    }
    pd.testing.assert_frame_equal(after["scores"], before["scores"], rtol=1e-12)
    pd.testing.assert_frame_equal(after["clusters"], before["clusters"])

    # an inf written into the table after the fit: evaluate's refits refuse it as fit does
    with duckdb.connect(str(db)) as con:
        con.execute(
            "update lab.people set visits = 'inf'::double where visits = (select max(visits) from lab.people)"
        )
    kept = fingerprints(db)
    capsys.readouterr()
    assert cli.main(["evaluate", GATE, "--db", str(db), *cv]) == 2
    assert "column 'visits' holds" in capsys.readouterr().err
    assert fingerprints(db) == kept


#: change to the table -> (commands, what each one's one line must say)
REFUSALS: dict[str, tuple[str, list[str], str]] = {
    "an infinite feature": (
        "update lab.people set visits = 'inf'::double where visits = (select max(visits) from lab.people)",
        ["fit", "uplift", "segment", "abtest", "abtest-adjusted", "plan"],
        "column 'visits' holds",
    ),
    "an outcome that never varies": (
        "update lab.people set responded = 0",
        ["fit", "uplift", "abtest", "plan"],
        "'responded' is 0 on all",
    ),
}


@pytest.mark.parametrize("case", list(REFUSALS))
def test_every_command_refuses_the_same_table_for_the_same_reason(
    case: str, people: tuple[Path, pd.DataFrame], tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    db, _frame = people
    specs = _specs(tmp_path)
    change, commands, says = REFUSALS[case]
    # an earlier result in the ml tables, which every refusal must leave as it is
    assert cli.main(["abtest", "--experiment", "earlier", "--relation", "lab.people", "--arm", "arm",
                     "--control", "control", "--metric", "visits", "--db", str(db)]) == 0  # fmt: skip
    with duckdb.connect(str(db)) as con:
        con.execute(change)
    before = fingerprints(db)
    metric = "visits" if "infinite" in case else "responded"
    argv = {
        "fit": ["fit", "--spec", str(specs["model"]), *FAST],
        "uplift": ["uplift", "--spec", str(specs["uplift"]), "--quiet"],
        "segment": ["segment", "--spec", str(specs["segment"]), "--quiet"],
        "abtest": ["abtest", "--experiment", "bad", "--relation", "lab.people", "--arm", "arm",
                   "--control", "control", "--metric", metric],
        "abtest-adjusted": ["abtest", "--experiment", "bad", "--relation", "lab.people", "--arm", "arm",
                            "--control", "control", "--metric", "responded", "--covariate", "visits"],
        "plan": ["plan", "--relation", "lab.people", "--metric", "responded", "--covariate", "visits",
                 "--mde", "0.05"],
    }  # fmt: skip
    capsys.readouterr()
    for command in commands:
        code = cli.main([*argv[command], "--db", str(db)])
        err = capsys.readouterr().err
        lines = [line for line in err.splitlines() if "error:" in line]
        assert code == 2 and len(lines) == 1 and says in lines[0], (command, err)
    assert fingerprints(db) == before
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("command", ["fit", "uplift", "segment"])
def test_a_table_with_a_column_named_like_the_row_key_needs_an_id(
    command: str, people: tuple[Path, pd.DataFrame], tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    db, _frame = people
    with duckdb.connect(str(db)) as con:
        con.execute("alter table lab.people add column __row_key varchar")
    before = fingerprints(db)
    capsys.readouterr()
    spec = _specs(tmp_path)["model" if command == "fit" else command]
    assert cli.main([command, "--spec", str(spec), "--db", str(db), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "lab.people has a column named '__row_key', the name of the computed row key" in err, err
    assert fingerprints(db) == before
