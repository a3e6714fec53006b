"""The model layer on a plain labelled customer table the generator did not make.

One row per customer, text ids, a text column, no dates, a label not named like the mart's:
``targeting fit`` then ``targeting evaluate --cv K`` is the whole job; scoring writes text ids;
an unseen category is reported by name; bad columns are refused at load, naming them.
"""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
import yaml

from targeting.cli import main as cli
from targeting.core.specs import SpecError, load_spec
from targeting.models.baselines import baseline_features
from targeting.models.evaluate import never_features

from .conftest import table_warehouse

pytestmark = pytest.mark.slow  # fits models (the baseline transform test below is fast too)

# the mechanics tests fit with reduced samplers, which may fail the diagnostics: they score and
# evaluate with the override (the gate itself is tested in test_plain_table and test_uplift)
SCORE = ["score", "--allow-failed-diagnostics"]
EVALUATE = ["evaluate", "--allow-failed-diagnostics"]

FAST = ["--draws", "200", "--tune", "200", "--chains", "2", "--quiet"]
GATE = ["--allow-failed-diagnostics"]  # reduced samplers: these tests are about mechanics
REGIONS = ("north", "south", "east", "west")


def _customers(n: int = 1500, seed: int = 5) -> pd.DataFrame:
    """Customers with a planted response: more spend and visits, and the south, respond more."""
    rng = np.random.default_rng(seed)
    region = rng.choice(REGIONS, size=n, p=[0.3, 0.3, 0.2, 0.2])
    spend = rng.lognormal(4, 1, size=n)
    visits = rng.poisson(3, size=n)
    eta = -1.5 + 0.8 * (np.log1p(spend) - 4) + 0.35 * (visits - 3) + np.where(region == "south", 0.8, 0.0)
    responded = (rng.random(n) < 1 / (1 + np.exp(-eta))).astype(int)
    return pd.DataFrame(
        {
            "customer_code": [f"C{i:05d}" for i in range(n)],
            "region": region,
            "spend": spend,
            "visits": visits,
            "notes": [f"free text {i}" for i in range(n)],  # 1,500 distinct values: never one-hot
            "responded": responded,
        }
    )


@pytest.fixture
def plain(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path, pd.DataFrame]:
    """A DuckDB file with ``crm.customers`` and a spec over it; private runs and reports folders."""
    frame = _customers()
    db = table_warehouse(tmp_path, monkeypatch, "crm.customers", frame, "plain")
    spec = _spec(tmp_path)
    return db, spec, frame


def _spec(tmp_path: Path, **changes: object) -> Path:
    raw = {
        "name": "response",
        "relation": "crm.customers",
        "id": "customer_code",
        "label": "responded",
        "formula": "responded ~ scale(log1p(spend)) + scale(visits) + region",
        "sampler": {"method": "nutpie", "backend": "jax", "seed": 11},
    }
    raw.update(changes)
    raw = {key: value for key, value in raw.items() if value is not None}  # None: leave the key out
    path = tmp_path / f"spec_{len(list(tmp_path.glob('spec_*')))}.yml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def test_fit_then_cross_validate_then_score(plain: tuple[Path, Path, pd.DataFrame], tmp_path: Path) -> None:
    db, spec, frame = plain
    assert cli.main(["fit", "--spec", str(spec), "--db", str(db), *FAST]) == 0
    assert cli.main([*EVALUATE, "--db", str(db), "--no-held-out", "--no-report", "--quiet"]) == 2
    assert cli.main([*EVALUATE, "--db", str(db), "--cv", "3", "--bootstrap", "20", "--quiet"]) == 0
    with duckdb.connect(str(db), read_only=True) as con:
        ev = con.execute("select * from ml.model_evaluations").df()
    assert set(ev["split"]) == {"cv_3fold"}
    # no rule baseline: its columns are not in this table
    assert set(ev["model"]) == {"bayesian", "logistic_regression", "gradient_boosting"}
    auc = ev[ev["metric"] == "roc_auc"].set_index("model")["value"]
    assert auc["bayesian"] > 0.7, auc
    # a baseline trained on the label would score ~1.0
    assert auc["logistic_regression"] < 0.95, auc
    assert (ev["n_rows"] == len(frame)).all()
    assert ev["test_as_of"].isna().all()

    oof = pd.read_parquet(next((tmp_path / "reports").glob("*/cv_3fold_scores.parquet")))
    assert sorted(oof["customer_code"]) == sorted(frame["customer_code"])  # every row exactly once
    assert set(oof["fold"]) == {1, 2, 3}

    assert cli.main([*SCORE, "--db", str(db), "--quiet"]) == 0
    with duckdb.connect(str(db), read_only=True) as con:
        scores = con.execute("select * from ml.customer_scores").df()
    assert sorted(scores["client_id"]) == sorted(frame["customer_code"])
    assert scores["as_of_date"].isna().all()
    assert sorted(scores["rank"]) == list(range(1, len(frame) + 1))


def test_unseen_category_is_reported_by_name(
    plain: tuple[Path, Path, pd.DataFrame], capsys: pytest.CaptureFixture
) -> None:
    db, spec, frame = plain
    assert cli.main(["fit", "--spec", str(spec), "--db", str(db), *FAST]) == 0
    with duckdb.connect(str(db)) as con:
        con.execute("insert into crm.customers values ('X00001', 'atlantis', 10.0, 1, 'new', 0)")
    capsys.readouterr()
    assert cli.main([*SCORE, "--db", str(db)]) == 0
    err = capsys.readouterr().err
    assert "region: 'atlantis' (1 rows)" in err, err[-2000:]
    with duckdb.connect(str(db), read_only=True) as con:
        ids = {r[0] for r in con.execute("select client_id from ml.customer_scores").fetchall()}
    assert "X00001" not in ids and len(ids) == len(frame)


def test_the_label_never_becomes_a_baseline_feature(plain: tuple[Path, Path, pd.DataFrame]) -> None:
    db, spec_path, frame = plain
    spec = load_spec(_spec(spec_path.parent, exclude=["spend"]))
    features = baseline_features(frame, never_features(spec))
    assert "responded" not in features.columns
    assert "customer_code" not in features.columns
    assert "spend" not in features.columns  # excluded by the spec
    assert features.categorical == ["region"]
    assert "notes" in features.skipped  # too many distinct values to one-hot


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        (
            {"formula": "responded ~ scale(visits) + shoe_size"},
            "predictor column 'shoe_size' is not a column of crm.customers",
        ),
        ({"formula": "responded ~ scale(region)"}, "predictor column 'region' of crm.customers is VARCHAR"),
        ({"label": "region", "formula": "region ~ scale(visits)"}, "label column 'region' of crm.customers"),
        ({"as_of": "region"}, "as_of column 'region' of crm.customers is VARCHAR; expected a DATE"),
        ({"id": "spend"}, "id column 'spend' of crm.customers is DOUBLE; expected an integer or text key"),
        ({"id": "client_id"}, "id column 'client_id' is not a column of crm.customers"),
        ({"train_cutoffs": 3}, "train_cutoffs needs an as_of column"),
    ],
)
def test_spec_columns_are_checked_at_load(
    plain: tuple[Path, Path, pd.DataFrame], capsys: pytest.CaptureFixture, changes: dict, expected: str
) -> None:
    db, spec, _ = plain
    bad = _spec(spec.parent, **changes)
    assert cli.main(["fit", "--spec", str(bad), "--db", str(db), *FAST]) == 2
    err = capsys.readouterr().err
    assert expected in err, err
    assert err.count("\n") == 1  # one line


def test_an_older_score_table_is_brought_up_to_date(tmp_path: Path) -> None:
    """A warehouse scored before ids became text keeps its rows and takes text ids and null cutoffs."""
    from targeting.core.warehouse import ensure_ml_tables

    db = tmp_path / "old.duckdb"
    with duckdb.connect(str(db)) as con:
        con.execute("create schema ml")
        old = (
            "run_id varchar not null, client_id bigint not null, as_of_date date not null, "
            "p_mean double not null, p_sd double not null, p_q05 double not null, p_q95 double not null, "
            "rank bigint not null, decile integer not null, used_population_level boolean"
        )
        con.execute(f"create table ml.customer_scores ({old})")
        row = "'r', 1515915625468060902, '2024-01-01', .1, .01, .05, .2, 1, 1, false"
        con.execute(f"insert into ml.customer_scores values ({row})")
        ensure_ml_tables(con)
        sql = "select column_name, data_type from information_schema.columns where table_name = ?"
        types = dict(con.execute(sql, ["customer_scores"]).fetchall())
        assert types["client_id"] == "VARCHAR"
        assert con.execute("select client_id from ml.customer_scores").fetchone()[0] == "1515915625468060902"
        con.execute(
            "insert into ml.customer_scores values ('r', 'C00001', null, .1, .01, .05, .2, 2, 1, false)"
        )


def test_compare_ranks_specs_on_a_plain_table(
    plain: tuple[Path, Path, pd.DataFrame], tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    db, spec, _ = plain
    weaker = _spec(spec.parent, name="response_visits", formula="responded ~ scale(visits)")
    args = ["compare", "--allow-failed-diagnostics", str(spec), str(weaker), "--db", str(db), *FAST]
    assert cli.main(args) == 0
    table = pd.read_csv(next((tmp_path / "reports").glob("compare-*.csv")))
    assert set(table["test_split"]) == {"held_out_clients"}
    # same rows: ranked by PSIS-LOO; the spec with the real predictors wins
    assert table.loc[table["rank"] == 0, "spec"].item() == "response"
    assert (
        table.set_index("spec").loc["response", "oot_roc_auc"]
        > table.set_index("spec").loc["response_visits", "oot_roc_auc"]
    )
    # two specs of one name would share one LOO entry (the second silently replacing the first)
    (tmp_path / "copy").mkdir()
    same_name = _spec(tmp_path / "copy", formula="responded ~ scale(visits)")
    capsys.readouterr()
    assert cli.main(["compare", str(spec), str(same_name), "--db", str(db), *FAST]) != 0
    assert "share the name 'response'; give each spec its own name" in capsys.readouterr().err


def test_baseline_logs_counts_and_amounts_but_not_flags_or_signed_columns() -> None:
    from targeting.models.baselines import NonNegativeLog1p

    x = np.array([[0, 1, -2.0, 10.0], [1, 0, 3.0, 1000.0], [1, 5, 1.0, 0.0]])
    t = NonNegativeLog1p().fit(x)
    assert list(t.log_) == [False, True, False, True]  # a 0/1 flag and a signed column are kept
    np.testing.assert_allclose(t.transform(x)[:, 3], np.log1p([10.0, 1000.0, 0.0]))
    np.testing.assert_allclose(t.transform(x)[:, [0, 2]], x[:, [0, 2]])


def test_a_run_that_failed_its_diagnostics_is_not_scored_or_evaluated_without_the_override(
    plain: tuple[Path, Path, pd.DataFrame], capsys: pytest.CaptureFixture
) -> None:
    db, spec, _ = plain
    # 20 draws of one chain: far under the effective sample size the diagnostics ask for
    tiny = ["--draws", "20", "--tune", "30", "--chains", "1", "--quiet"]
    assert cli.main(["fit", "--spec", str(spec), "--db", str(db), *tiny]) == 0
    for command in (["score"], ["evaluate", "--cv", "2", "--no-report"]):
        capsys.readouterr()
        assert cli.main([*command, "--db", str(db), "--quiet"]) == 2
        err = capsys.readouterr().err
        assert "failed its diagnostics" in err and "--allow-failed-diagnostics" in err, err
    with duckdb.connect(str(db), read_only=True) as con:
        tables = {
            r[0]
            for r in con.execute("select table_name from duckdb_tables() where schema_name = 'ml'").fetchall()
        }
        written = {t: con.execute(f"select count(*) from ml.{t}").fetchone()[0] for t in tables}
    assert not any(written.values()), written
    assert cli.main(["score", "--db", str(db), "--allow-failed-diagnostics", "--quiet"]) == 0
    assert (
        cli.main(
            [
                "evaluate",
                "--db",
                str(db),
                "--cv",
                "2",
                "--bootstrap",
                "20",
                "--no-report",
                "--allow-failed-diagnostics",
                "--quiet",
            ]
        )
        == 0
    )
    with duckdb.connect(str(db), read_only=True) as con:
        status = con.execute("select status from ml.model_runs").fetchall()
        notes = con.execute("select distinct note from ml.model_evaluations").fetchall()
    assert status == [("scored_with_failed_diagnostics",)], status
    assert notes and all(n[0].startswith("run failed its diagnostics, evaluated with") for n in notes), notes


def test_rows_with_a_missing_predictor_are_dropped_before_the_fit_and_counted_truthfully(
    plain: tuple[Path, Path, pd.DataFrame], capsys: pytest.CaptureFixture
) -> None:
    """The counts, the saved training rows and both scoring engines describe the rows fitted on."""
    db, spec, frame = plain
    with duckdb.connect(str(db)) as con:
        con.execute("update crm.customers set spend = null where customer_code < 'C00024'")
    complete = frame[frame["customer_code"] >= "C00024"]
    assert cli.main(["fit", "--spec", str(spec), "--db", str(db), *FAST[:-1]]) == 0
    err = capsys.readouterr().err
    assert f"{len(complete):,} training rows ({int(complete['responded'].sum()):,} positive)" in err, err
    assert f"24 of the {len(frame):,} labelled rows dropped for a missing predictor" in err, err
    # the SQL engine's design has the fitted rows' shape (it failed on 1,500 against 1,476)
    score = ["score", "--db", str(db), "--engine", "sql", "--allow-failed-diagnostics", "--quiet"]
    assert cli.main(score) == 0
    with duckdb.connect(str(db), read_only=True) as con:
        n_train, positives = con.execute(
            "select n_train_rows, n_train_positives from ml.model_runs"
        ).fetchone()
    assert (n_train, positives) == (len(complete), int(complete["responded"].sum()))


def test_imputed_predictors_score_every_row_alike_in_python_and_sql(
    plain: tuple[Path, Path, pd.DataFrame], tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """The spec's missing-value policy: a numeric column imputed with its training median and a
    missing indicator, a text column's missing value a level of its own. Every row is fitted,
    scored by both engines (which agree) and cross-validated; nothing is dropped."""
    db, _spec_path, frame = plain
    with duckdb.connect(str(db)) as con:
        con.execute("update crm.customers set spend = null where customer_code < 'C00060'")
        con.execute("update crm.customers set region = null where customer_code >= 'C01470'")
    spec = _spec(tmp_path, missing={"default": "drop", "columns": {"spend": "median", "region": "level"}})
    assert cli.main(["fit", "--spec", str(spec), "--db", str(db), *FAST[:-1]]) == 0
    err = capsys.readouterr().err
    known = frame.loc[frame["customer_code"] >= "C00060", "spend"]
    assert f"{len(frame):,} training rows" in err and "dropped" not in err, err
    assert f"imputed region = (missing), spend = {known.median():.4g} (+ indicator)" in err, err
    scores = {}
    for engine in ("fast", "sql"):
        assert cli.main([*SCORE, "--db", str(db), "--engine", engine, "--quiet"]) == 0
        with duckdb.connect(str(db), read_only=True) as con:
            scores[engine] = con.execute("select client_id, p_mean from ml.customer_scores").df()
    both = scores["fast"].merge(scores["sql"], on="client_id", suffixes=("_fast", "_sql"))
    assert len(both) == len(frame)  # every row scored, by both engines
    assert (both["p_mean_fast"] - both["p_mean_sql"]).abs().max() < 0.01, both.describe()
    # cross-validation learns the imputation on each fold's training rows and tests every row
    assert cli.main([*EVALUATE, "--db", str(db), "--cv", "2", "--bootstrap", "20", "--quiet"]) == 0
    with duckdb.connect(str(db), read_only=True) as con:
        n_rows = {r[0] for r in con.execute("select distinct n_rows from ml.model_evaluations").fetchall()}
    assert n_rows == {len(frame)}, n_rows


def test_a_spec_without_an_id_cannot_join_a_labels_relation(tmp_path: Path) -> None:
    raw = {"name": "r", "relation": "crm.x", "label": "y", "formula": "y ~ a", "labels": "crm.y"}
    path = tmp_path / "spec.yml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(SpecError, match="labels is joined on the id: name the id column"):
        load_spec(path)


def test_a_stack_of_specs_scores_the_mixture_of_their_draws(
    plain: tuple[Path, Path, pd.DataFrame], tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """compare --stack saves the LOO stacking weights; score scores the stack as one mixture."""
    db, spec, frame = plain
    # each spec sees half the signal, so the mixture beats both and both get weight
    spend = _spec(spec.parent, name="response_spend", formula="responded ~ scale(log1p(spend)) + region")
    visits = _spec(spec.parent, name="response_visits", formula="responded ~ scale(visits) + region")
    args = [
        "compare",
        "--allow-failed-diagnostics",
        "--stack",
        str(spend),
        str(visits),
        "--db",
        str(db),
        *FAST,
    ]
    assert cli.main(args) == 0
    out = capsys.readouterr().out
    stack_id = out.split("stack ")[1].split(" saved")[0]
    stack = json.loads((tmp_path / "runs" / stack_id / "stack.json").read_text())
    members = [(m["run_id"], m["weight"]) for m in stack["members"]]
    assert len(members) == 2 and abs(sum(w for _, w in members) - 1) < 1e-9, members

    draws = 400
    # a category neither member saw: one row left out, counted once (both members read region)
    with duckdb.connect(str(db)) as con:
        con.execute("insert into crm.customers values ('X00001', 'atlantis', 10.0, 1, 'new', 0)")
    capsys.readouterr()
    assert cli.main(["score", "--run", stack_id, "--draws", str(draws), "--db", str(db), *GATE]) == 0
    assert "region: 'atlantis' (1 rows)" in capsys.readouterr().err
    with duckdb.connect(str(db), read_only=True) as con:
        mixed = con.execute(
            "select * from ml.customer_scores where run_id = ? order by client_id", [stack_id]
        ).df()
        row = con.execute(
            "select formula, inference_method from ml.model_runs where run_id = ?", [stack_id]
        ).fetchone()
    assert len(mixed) == len(frame) and row[1] == "stacking" and row[0].count(" x [") == 2
    # each member scored alone with its share of the draws: the stack's mean is their weighted mean
    shares = [max(1, round(w * draws)) for _, w in members]
    expected = np.zeros(len(mixed))
    lows, highs = [], []
    for (run, _), n in zip(members, shares, strict=True):
        assert cli.main(["score", "--run", run, "--draws", str(n), "--db", str(db), "--quiet", *GATE]) == 0
        with duckdb.connect(str(db), read_only=True) as con:
            alone = con.execute(
                "select * from ml.customer_scores where run_id = ? order by client_id", [run]
            ).df()
        assert list(alone["client_id"]) == list(mixed["client_id"])
        expected += alone["p_mean"].to_numpy() * n / sum(shares)
        lows.append(alone["p_q05"].to_numpy())
        highs.append(alone["p_q95"].to_numpy())
    np.testing.assert_allclose(mixed["p_mean"], expected, rtol=1e-9)
    # the mixture's interval lies within the members' outer ends
    assert (mixed["p_q05"] >= np.minimum(*lows) - 1e-12).all() and (
        mixed["p_q95"] <= np.maximum(*highs) + 1e-12
    ).all()

    # a stack of one spec, another engine, and a tampered stack file are refused
    assert cli.main(["compare", "--stack", str(spec), "--db", str(db), *FAST, *GATE]) == 2
    assert "--stack: stacking weights need at least two specs" in capsys.readouterr().err
    assert cli.main(["score", "--run", stack_id, "--engine", "sql", "--db", str(db)]) == 2
    assert "is a stack: it is scored with the fast engine" in capsys.readouterr().err
    assert cli.main(["score", "--run", "stack-../../etc", "--db", str(db)]) == 2
    assert "run id 'stack-../../etc' must start with a letter or digit" in capsys.readouterr().err
    stack["members"][0]["weight"] = 5
    (tmp_path / "runs" / stack_id / "stack.json").write_text(json.dumps(stack))
    assert cli.main(["score", "--run", stack_id, "--db", str(db), *GATE]) == 2
    assert "the member weights do not sum to 1" in capsys.readouterr().err
