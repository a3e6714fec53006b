"""Scoring in the warehouse: a run's posterior compiled into SQL agrees with the draw-based path.

The SQL engine summarises each row's linear predictor by a normal distribution (mean and
variance from the posterior's mean and covariance); the fast engine uses every draw. The
stated tolerance, for the short test fits here (400 draws): p_mean within 0.005 and the 90%
interval's ends within 0.03 of the draw-based ones (0.1 for rows with an unseen group level,
whose population-level effect is further from normal), ranks correlated above 0.999. At scale 1
with 4,000 draws the differences are far smaller (docs/specs.md, "Scoring in the warehouse").
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pytest

from targeting.cli import main as cli
from targeting.models import sqlscore

from .conftest import REPO, add_run, run_dbt_in_process, scoring_population
from .test_plain_table import _customers, _spec

pytestmark = pytest.mark.slow  # fits models

# the mechanics tests fit with reduced samplers, which may fail the diagnostics: they score and
# evaluate with the override (the gate itself is tested in test_plain_table and test_uplift)
SCORE = ["score", "--allow-failed-diagnostics"]

FAST = ["--draws", "200", "--tune", "200", "--chains", "2", "--quiet"]
SPECS = REPO / "python" / "specs"
P_MEAN_TOLERANCE = 0.005
INTERVAL_TOLERANCE = 0.03
UNSEEN_INTERVAL_TOLERANCE = 0.1


def _scores(db: Path) -> pd.DataFrame:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute("select * from ml.customer_scores order by client_id").df()


def _agree(sql: pd.DataFrame, draws: pd.DataFrame) -> None:
    """The SQL scores agree with the draw-based scores within the stated tolerance."""
    assert list(sql["client_id"]) == list(draws["client_id"])
    assert np.abs(sql["p_mean"] - draws["p_mean"]).max() < P_MEAN_TOLERANCE
    seen = ~draws["used_population_level"].to_numpy()
    for end in ("p_q05", "p_q95"):
        gap = np.abs(sql[end] - draws[end]).to_numpy()
        assert gap[seen].max() < INTERVAL_TOLERANCE, end
        # a row with an unseen level drops that factor's effect; what remains (intercept and
        # the other terms, strongly tied to a few-level factor) is further from normal
        assert gap.max() < UNSEEN_INTERVAL_TOLERANCE, end
    assert ((sql["p_q05"] <= sql["p_mean"]) & (sql["p_mean"] <= sql["p_q95"])).all()
    assert np.corrcoef(sql["rank"], draws["rank"])[0, 1] > 0.999
    pd.testing.assert_series_equal(sql["used_population_level"], draws["used_population_level"])
    assert sorted(sql["decile"].unique()) == list(range(1, 11))


@pytest.fixture
def plain(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """A plain customer table the generator did not make, and a spec with a text column."""
    monkeypatch.setenv("MM_RUNS_DIR", str(tmp_path / "runs"))
    db = tmp_path / "plain.duckdb"
    with duckdb.connect(str(db)) as con:
        con.register("frame", _customers())
        con.execute("create schema crm")
        con.execute("create table crm.customers as select * from frame")
    return db, _spec(tmp_path)


def test_sql_scores_of_a_plain_table_agree_with_the_draws(
    plain: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    db, spec = plain
    # a B-spline of spend (each basis column a piecewise cubic in SQL) beside the plain terms
    spline = _spec(spec.parent, formula="responded ~ bs(log1p(spend), df=4) + scale(visits) + region")
    assert cli.main(["fit", "--spec", str(spline), "--db", str(db), *FAST]) == 0
    with duckdb.connect(str(db)) as con:
        con.execute("insert into crm.customers values ('X00001', 'atlantis', 10.0, 1, 'new', 0)")
        con.execute("insert into crm.customers values ('X00002', 'south', null, 1, 'new', 0)")
    assert cli.main([*SCORE, "--db", str(db), "--draws", "0", "--quiet"]) == 0
    draws = _scores(db)
    capsys.readouterr()
    assert cli.main([*SCORE, "--db", str(db), "--engine", "sql"]) == 0
    err = capsys.readouterr().err
    # the unseen category is named and the row with a missing predictor left out, as in Python
    assert "region: 'atlantis' (1 rows)" in err and "2 rows with a missing predictor" in err, err
    sql = _scores(db)
    assert len(sql) == 1500 and not {"X00001", "X00002"} & set(sql["client_id"])
    _agree(sql, draws)

    # the printed statement is what the engine ran: executed as is, it gives the same scores
    out = tmp_path / "score.sql"
    assert cli.main(["compile-sql", "--db", str(db), "--out", str(out)]) == 0
    with duckdb.connect(str(db), read_only=True) as con:
        again = con.execute(out.read_text()).df().sort_values("client_id").reset_index(drop=True)
    np.testing.assert_allclose(again["p_mean"], sql["p_mean"], rtol=1e-12)

    # wide designs take DuckDB's array path for the quadratic form: the same numbers
    monkeypatch.setattr(sqlscore, "ARRAY_MIN_COLUMNS", 1)
    assert cli.main(["compile-sql", "--db", str(db), "--out", str(out)]) == 0
    assert "array_inner_product" in out.read_text()
    with duckdb.connect(str(db), read_only=True) as con:
        arrays = con.execute(out.read_text()).df().sort_values("client_id").reset_index(drop=True)
    for col in ("p_mean", "p_sd", "p_q05", "p_q95"):
        np.testing.assert_allclose(arrays[col], sql[col], rtol=1e-9, atol=1e-12)


def test_a_gaussian_process_term_scores_alike_in_python_bambi_sql_and_spark(
    plain: tuple[Path, Path], tmp_path: Path, spark: object
) -> None:
    """``hsgp()``: the fast engine's basis is Bambi's, and the SQL sines reproduce it on both engines.

    Fitted by the Laplace approximation (the basis is under test, not the sampler). Its
    posterior of the GP weights is far from normal (they scale with the sampled length scale),
    so the SQL summary is checked where it is exact: each row's linear-predictor mean and SD
    equal those of the draws.
    """
    from targeting.core.linpred import LinearPredictor
    from targeting.models import runs

    db, spec = plain
    formula = "responded ~ hsgp(log1p(spend), m=8, c=1.5) + scale(visits) + region"
    laplace = ["--method", "laplace", "--draws", "200", "--chains", "2", "--quiet"]
    assert (
        cli.main(["fit", "--spec", str(_spec(spec.parent, formula=formula)), "--db", str(db), *laplace]) == 0
    )
    scores = {}
    for engine in ("fast", "bambi", "sql"):
        assert cli.main([*SCORE, "--db", str(db), "--engine", engine, "--draws", "0", "--quiet"]) == 0
        scores[engine] = _scores(db)
    for col in ("p_mean", "p_sd", "p_q05", "p_q95"):
        np.testing.assert_allclose(scores["fast"][col], scores["bambi"][col], rtol=1e-9, atol=1e-12)
    # the statement's linear predictor against the draws' (every row, every draw)
    out = tmp_path / "score.sql"
    assert cli.main(["compile-sql", "--db", str(db), "--out", str(out)]) == 0
    with duckdb.connect(str(db), read_only=True) as con:
        in_sql = con.execute(out.read_text()).df().sort_values("client_id").reset_index(drop=True)
        rows = con.execute("select * from crm.customers order by customer_code").df()
    saved = runs.load_run("latest")
    eta = LinearPredictor(saved.model(), saved.posterior().posterior).eta(rows)
    assert list(in_sql["client_id"]) == list(rows["customer_code"])
    np.testing.assert_allclose(in_sql["eta_mean"], eta.mean(axis=1), rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(in_sql["eta_sd"], eta.std(axis=1, ddof=1), rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(in_sql["p_mean"], scores["sql"]["p_mean"], rtol=1e-12)
    on_spark = _score_on_spark(db, tmp_path, spark)
    for col in ("p_mean", "p_sd", "p_q05", "p_q95"):
        np.testing.assert_allclose(on_spark[col], scores["sql"][col], rtol=1e-9, atol=1e-12)


def _score_on_spark(db: Path, tmp_path: Path, spark: Any) -> pd.DataFrame:
    """Run the latest run's statement compiled for Spark on a Spark copy of ``crm.customers``."""
    out = tmp_path / "score_spark.sql"
    assert cli.main(["compile-sql", "--db", str(db), "--dialect", "spark", "--out", str(out)]) == 0
    with duckdb.connect(str(db), read_only=True) as con:
        frame = con.execute("select * from crm.customers").df()
    spark.sql("create database if not exists crm")
    spark.sql("drop table if exists crm.customers")
    spark.createDataFrame(frame).write.saveAsTable("crm.customers")
    statement = "\n".join(line for line in out.read_text().splitlines() if not line.startswith("--"))
    result: pd.DataFrame = spark.sql(statement).toPandas().sort_values("client_id").reset_index(drop=True)
    return result


def test_the_spark_statement_scores_the_same_on_spark(
    plain: tuple[Path, Path], tmp_path: Path, spark: object
) -> None:
    """The statement compiled for Spark, run by a local Spark session, gives DuckDB's scores.

    The spec has a B-spline, a ``pairs()`` product, a categorical column and two group factors:
    the spline's piecewise polynomials, case expressions, the level tables and the level-pair
    table all run on Spark; unseen levels too.
    """
    db, spec = plain
    _add_tier(db)
    with duckdb.connect(str(db)) as con:
        con.execute("alter table crm.customers add column band varchar")
        con.execute("update crm.customers set band = case when visits >= 3 then 'many' else 'few' end")
    formula = (
        "responded ~ bs(log1p(spend), df=4) + pairs(scale(visits), log1p(spend)) + C(band)"
        " + (1|region) + (1|tier)"
    )
    mixed = _spec(spec.parent, formula=formula)
    assert cli.main(["fit", "--spec", str(mixed), "--db", str(db), *FAST]) == 0
    with duckdb.connect(str(db)) as con:
        con.execute("update crm.customers set tier = 'tier_new' where customer_code < 'C00040'")
    assert cli.main([*SCORE, "--db", str(db), "--engine", "sql", "--quiet"]) == 0
    duck = _scores(db)
    assert duck["used_population_level"].sum() == 40
    on_spark = _score_on_spark(db, tmp_path, spark)
    assert list(on_spark["client_id"]) == list(duck["client_id"])
    for col in ("p_mean", "p_sd", "p_q05", "p_q95"):
        np.testing.assert_allclose(on_spark[col], duck[col], rtol=1e-9, atol=1e-12)


def test_sql_scores_of_the_mart_with_a_group_intercept(
    private_warehouse: Path, hierarchical_run: Path
) -> None:
    db = private_warehouse
    add_run(hierarchical_run, Path(os.environ["MM_RUNS_DIR"]))  # the hierarchical spec, fitted
    with duckdb.connect(str(db)) as con:
        con.execute(
            "update marts.customer_features set favourite_root_category = 'brand_new' "
            "where is_scoring_cutoff and hash(client_id) % 7 = 0"
        )
    assert cli.main([*SCORE, "--db", str(db), "--draws", "0", "--quiet"]) == 0
    draws = _scores(db)
    assert cli.main([*SCORE, "--db", str(db), "--engine", "sql", "--quiet"]) == 0
    sql = _scores(db)
    assert sql["used_population_level"].sum() > 50
    _agree(sql, draws)
    with duckdb.connect(str(db), read_only=True) as con:
        run = con.execute("select n_scored, n_unseen_group_rows from ml.model_runs").fetchone()
    assert run == (len(sql), int(sql["used_population_level"].sum()))
    # dbt stages the SQL engine's scores like any others and builds the targeting list on them
    res = run_dbt_in_process(["build", "--select", "staging.ml+"], db)
    assert res.returncode == 0, res.stdout[-3000:]
    with duckdb.connect(str(db), read_only=True) as con:
        listed = con.execute("select count(*) from marts.targeting_list").fetchone()[0]
    assert listed == len(sql)


def _add_tier(db: Path) -> None:
    """A second text column for a second group factor: three tiers by a hash of the id."""
    with duckdb.connect(str(db)) as con:
        con.execute("alter table crm.customers add column tier varchar")
        con.execute("update crm.customers set tier = 'tier_' || cast(hash(customer_code) % 3 as varchar)")


def test_two_group_intercepts_agree_with_the_draws(plain: tuple[Path, Path]) -> None:
    """Two (1|factor) terms: each level's effect, its covariance with beta and each level pair's."""
    db, spec = plain
    _add_tier(db)
    two = _spec(
        spec.parent, formula="responded ~ scale(log1p(spend)) + scale(visits) + (1|region) + (1|tier)"
    )
    assert cli.main(["fit", "--spec", str(two), "--db", str(db), *FAST]) == 0
    with duckdb.connect(str(db)) as con:  # a tier and a region the fit never saw
        con.execute("update crm.customers set tier = 'tier_new' where customer_code < 'C00040'")
        con.execute("update crm.customers set region = 'atlantis' where customer_code > 'C01480'")
    assert cli.main([*SCORE, "--db", str(db), "--draws", "0", "--quiet"]) == 0
    draws = _scores(db)
    assert cli.main([*SCORE, "--db", str(db), "--engine", "sql", "--quiet"]) == 0
    sql = _scores(db)
    assert sql["used_population_level"].sum() == 40 + 19
    _agree(sql, draws)


#: formula -> the term the refusal must name (no SQL translation of its kind)
UNTRANSLATABLE = {
    "responded ~ scale(visits) + C(region):scale(spend)": "term 'C(region):scale(spend)'",
    "responded ~ scale(visits) + I(visits * spend)": "term 'I(visits * spend)'",
    "responded ~ visits + (1|region) + (scale(spend)|region)": "group term 'scale(spend)|region'",
}


def test_a_term_without_sql_is_named_and_nothing_is_lost(
    plain: tuple[Path, Path], capsys: pytest.CaptureFixture
) -> None:
    """Each kind of term without a SQL translation is refused by name; the stored scores stay.

    The refusal reads the formula's terms, not the posterior: tiny fits do (their failed
    diagnostics are allowed through, as they are not what is tested).
    """
    db, spec = plain
    tiny = ["--draws", "30", "--tune", "30", "--chains", "1", "--quiet"]
    assert cli.main(["fit", "--spec", str(spec), "--db", str(db), *tiny]) == 0
    assert cli.main([*SCORE, "--db", str(db), "--quiet", "--allow-failed-diagnostics"]) == 0
    before = _scores(db)
    for formula, named in UNTRANSLATABLE.items():
        other = _spec(spec.parent, formula=formula)
        assert cli.main(["fit", "--spec", str(other), "--db", str(db), *tiny]) == 0
        capsys.readouterr()
        assert (
            cli.main([*SCORE, "--db", str(db), "--engine", "sql", "--quiet", "--allow-failed-diagnostics"])
            == 2
        )
        err = capsys.readouterr().err
        assert "cannot be scored in SQL" in err and named in err, (formula, err)
        pd.testing.assert_frame_equal(_scores(db), before)


@pytest.mark.parametrize("spec", ["purchase_90d.yml", "purchase_90d_all.yml"])
def test_the_shipped_specs_translate(private_warehouse: Path, spec: str) -> None:
    """The plain and the all-features spec (cbind, horseshoe, 67 design columns) compile and run."""
    db = private_warehouse
    tiny = ["--draws", "30", "--tune", "30", "--chains", "1", "--quiet"]
    assert cli.main(["fit", "--spec", str(SPECS / spec), "--db", str(db), *tiny]) == 0
    assert cli.main([*SCORE, "--db", str(db), "--engine", "sql", "--quiet"]) == 0
    scores = _scores(db)
    assert len(scores) == scoring_population(db) and scores["p_mean"].between(0, 1).all()


@pytest.mark.parametrize("engine", ["fast", "sql"])
def test_a_term_that_is_not_a_finite_number_leaves_the_row_unscored(
    plain: tuple[Path, Path], capsys: pytest.CaptureFixture, engine: str
) -> None:
    """log of 0 or of a negative number: the row is left out and the term named, on both engines."""
    db, spec = plain
    logged = _spec(spec.parent, formula="responded ~ scale(log(spend)) + scale(visits) + region")
    assert cli.main(["fit", "--spec", str(logged), "--db", str(db), *FAST]) == 0
    with duckdb.connect(str(db)) as con:
        con.execute(
            "insert into crm.customers values ('Z1', 'south', 0.0, 1, 'x', 0), ('Z2', 'south', -5, 1, 'x', 0)"
        )
    capsys.readouterr()
    assert cli.main([*SCORE, "--db", str(db), "--engine", engine]) == 0
    err = capsys.readouterr().err
    assert "scale(log(spend)): 2 rows" in err, err
    scores = _scores(db)
    assert len(scores) == 1500 and not {"Z1", "Z2"} & set(scores["client_id"])
    assert np.isfinite(scores[["p_mean", "p_sd", "p_q05", "p_q95"]].to_numpy()).all()


@pytest.mark.parametrize(
    "formula", ["y ~ bs(x, df=5)", "y ~ bs(x, df=4, degree=2)", "y ~ bs(x, df=6, intercept=True)"]
)
def test_a_spline_basis_in_sql_equals_formulae_within_and_beyond_the_training_range(formula: str) -> None:
    """Each B-spline basis column written in SQL equals formulae's on new rows: between the
    knots, on them, below and above the training range (the end pieces extrapolate, as
    formulae's evaluation does) and for a missing value (no value)."""
    from formulae import design_matrices

    rng = np.random.default_rng(3)
    train = pd.DataFrame({"x": rng.gamma(2.0, 2.0, 400), "y": rng.integers(0, 2, 400)})
    design = design_matrices(formula, train).common
    (name,) = [t for t in design.terms if t != "Intercept"]
    call = design.terms[name].components[0].call
    exprs = sqlscore._Translator(name).spline(call)
    knots = np.unique(call.stateful_transform._knots)
    new = pd.DataFrame({"x": np.r_[-3.0, knots, knots + 1e-9, np.linspace(-1, 30, 200), np.nan], "y": 0})
    expected = np.asarray(design.evaluate_new_data(new.dropna()).design_matrix)[:, design.slices[name]]
    with duckdb.connect() as con:
        con.register("rows", new)
        got = con.execute(f"select {', '.join(e('duckdb') for e in exprs)} from rows").df().to_numpy(float)
    assert got.shape == (len(new), expected.shape[1])
    np.testing.assert_allclose(got[:-1], expected, rtol=1e-9, atol=1e-9)
    assert np.isnan(got[-1]).all()
