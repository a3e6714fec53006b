"""Hardening: outside input (spec fields, formulas, saved runs, paths, priors) cannot run SQL or
code, and every refusal is one clear line, exit 2, with every table and earlier run unchanged.

Each case names the message it must show. The warehouse is compared by value fingerprints
(row count and an order-free hash of every row of every table, plus the list of tables), and
the attack's own target files must not exist afterwards.
"""

from __future__ import annotations

import errno
import json
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from targeting.cli import main as cli

from .conftest import REPO, fingerprints, private_copy, write_spec

pytestmark = pytest.mark.slow  # builds a warehouse with dbt or fits models

# the mechanics tests fit with reduced samplers, which may fail the diagnostics: they score and
# evaluate with the override (the gate itself is tested in test_plain_table and test_uplift)
SCORE = ["score", "--allow-failed-diagnostics"]

SPECS = REPO / "python" / "specs"
FAST = ["--draws", "150", "--tune", "150", "--chains", "2", "--quiet"]


@pytest.fixture
def env(
    scored_warehouse: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[Path, Path]:
    """A private copy of the scored warehouse and its runs folder."""
    return private_copy(scored_warehouse, tmp_path, monkeypatch)


@pytest.fixture(scope="module")
def attacked(
    scored_warehouse: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Path, Path, dict]]:
    """One copy of the scored warehouse for every refused spec, and its fingerprints.

    A refused spec must leave every table as it was (each case checks it against these
    fingerprints), so the cases can share the copy: one that changed a table fails there.
    """
    mp = pytest.MonkeyPatch()
    db, runs = private_copy(scored_warehouse, tmp_path_factory.mktemp("attacked"), mp)
    yield db, runs, fingerprints(db)
    mp.undo()


def _refused(
    argv: list[str], db: Path, capsys: pytest.CaptureFixture, fragments: list[str], before: dict | None = None
) -> str:
    """Run the CLI, expect exit 2 with one error line holding every fragment; return it.

    ``before``: the warehouse's fingerprints, when the caller already has them.
    """
    before = fingerprints(db) if before is None else before
    capsys.readouterr()
    code = cli.main(argv)
    err = capsys.readouterr().err
    assert code == 2, (code, err[-2000:])
    lines = [line for line in err.splitlines() if line.startswith("targeting ")]
    assert len(lines) == 1 and "Traceback" not in err, err[-2000:]
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    assert fingerprints(db) == before, "a table changed"
    return lines[0]


def _pwned(tmp: Path) -> Path:
    return tmp / "pwned.csv"


# spec field -> (value, message fragments); {pwned} is a file the attack tries to write
SPEC_ATTACKS: dict[str, tuple[dict[str, object], list[str]]] = {
    "relation with a second statement (COPY TO)": (
        {"relation": "marts.customer_features; copy (select 42) to '{pwned}'"},
        ["marts.customer_features; copy (select 42) to", "must be a dbt model name or schema.table"],
    ),
    "relation with a second statement, one dot": (
        {"relation": "marts.customer_features; drop table customer_labels"},
        ["relation 'marts.customer_features; drop table customer_labels' does not exist in the warehouse"],
    ),
    "relation quoted to escape its identifier": (
        {"relation": 'marts"."customer_features'},
        ["does not exist in the warehouse", "marts.customer_features"],
    ),
    "relation with three parts": (
        {"relation": "wh.marts.customer_features"},
        ["must be a dbt model name or schema.table"],
    ),
    "unknown dbt model": ({"relation": "no_such_model"}, ["dbt model 'no_such_model' is not in"]),
    "labels relation with a second statement": (
        {"labels": "marts.customer_labels; drop table customer_features"},
        ["relation 'marts.customer_labels; drop table customer_features' does not exist"],
    ),
    "id that is SQL": (
        {"id": "client_id, 1 from marts.customer_features; drop table marts.customer_features; --"},
        ["id column 'client_id, 1 from", "is not a column of marts.customer_features"],
    ),
    "as_of that is SQL": (
        {"as_of": "as_of_date) or (1=1"},
        ["as_of column 'as_of_date) or (1=1' is not a column"],
    ),
    "filter with a second statement": (
        {"filter": "has_purchase_history; drop table marts.customer_features"},
        ["contains ';'", "one condition"],
    ),
    "filter with a comment": ({"filter": "has_purchase_history --"}, ["contains '--'"]),
    "filter reading a file (table function)": (
        {"filter": "client_id in (select 1 from read_text('/etc/passwd'))"},
        ["holds a subquery", "no subqueries or table functions"],
    ),
    "filter that breaks out into a union": (
        {"filter": "true) union all select * from marts.customer_features where (true"},
        ["is not one condition"],
    ),
    "filter naming another table's column": (
        {"filter": "customer_labels.purchased_next_90d"},
        ["names 'customer_labels.purchased_next_90d', which is not a column of marts.customer_features"],
    ),
    "filter naming an unknown column": ({"filter": "no_such_flag"}, ["names 'no_such_flag'"]),
    "filter reading the environment": (
        {"filter": "getenv('HOME') is not null"},
        ["calls getenv(), which a filter may not use"],
    ),
    "filter that does not parse": ({"filter": "has_purchase_history and and"}, ["is not one SQL condition"]),
    "formula reaching numpy's modules": (
        {"formula": "purchased_next_90d ~ np.lib.format.open_memmap(orders_all)"},
        ["np.lib.format.open_memmap(...) calls a function that formulas may not use", "allowed: abs, bs, C"],
    ),
    "spline with fewer degrees of freedom than its degree needs": (
        {"formula": "purchased_next_90d ~ bs(orders_all, df=1)"},
        ["Bambi cannot build formula", "df=1 is too small for degree=3"],
    ),
    "spline with a billion basis columns": (
        {"formula": "purchased_next_90d ~ bs(orders_all, df=1000000000)"},
        ["bs() argument df is '1000000000'; expected a whole number from 1 to 30"],
    ),
    "spline of a fractional degree": (
        {"formula": "purchased_next_90d ~ bs(orders_all, df=5, degree=2.5)"},
        ["bs() argument degree is '2.5'; expected a whole number from 1 to 5"],
    ),
    "spline with negative degrees of freedom": (
        {"formula": "purchased_next_90d ~ bs(orders_all, df=-3)"},
        ["bs() argument df is '-3'; expected a whole number from 1 to 30"],
    ),
    "spline with infinite degrees of freedom": (
        {"formula": "purchased_next_90d ~ bs(orders_all, df=inf)"},
        ["bs() argument df is 'inf'; expected a whole number from 1 to 30"],
    ),
    "spline with an empty df": (
        {"formula": "purchased_next_90d ~ bs(orders_all, df=)"},
        ["bs() argument df is ''; expected a whole number from 1 to 30"],
    ),
    "spline degree that is a boolean": (
        {"formula": "purchased_next_90d ~ bs(orders_all, df=5, degree=True)"},
        ["bs() argument degree is 'True'; expected a whole number from 1 to 5"],
    ),
    "spline df written as text": (
        {"formula": "purchased_next_90d ~ bs(orders_all, df='5')"},
        ["bs() argument df is \"'5'\"; expected a whole number from 1 to 30"],
    ),
    "spline with knots written as a list": (
        {"formula": "purchased_next_90d ~ bs(orders_all, knots=[1, 2])"},
        ["holds '['", "no brackets"],
    ),
    "Gaussian process with a thousand basis functions": (
        {"formula": "purchased_next_90d ~ hsgp(orders_all, m=1000, c=1.5)"},
        ["hsgp() argument m is '1000'; expected a whole number from 1 to 40"],
    ),
    "Gaussian process with no basis functions": (
        {"formula": "purchased_next_90d ~ hsgp(orders_all, m=0, c=1.5)"},
        ["hsgp() argument m is '0'; expected a whole number from 1 to 40"],
    ),
    "Gaussian process with an empty m": (
        {"formula": "purchased_next_90d ~ hsgp(orders_all, m=, c=1.5)"},
        ["hsgp() argument m is ''; expected a whole number from 1 to 40"],
    ),
    "Gaussian process with a negative c": (
        {"formula": "purchased_next_90d ~ hsgp(orders_all, m=10, c=-2)"},
        ["hsgp() argument c is '-2'; expected a number from 1.2 to 10.0"],
    ),
    "Gaussian process with a domain narrower than the data": (
        {"formula": "purchased_next_90d ~ hsgp(orders_all, m=10, c=0.5)"},
        ["hsgp() argument c is '0.5'; expected a number from 1.2 to 10.0"],
    ),
    "Gaussian process with an infinite domain": (
        {"formula": "purchased_next_90d ~ hsgp(orders_all, m=10, c=inf)"},
        ["hsgp() argument c is 'inf'; expected a number from 1.2 to 10.0"],
    ),
    "Gaussian process with c written as text": (
        {"formula": "purchased_next_90d ~ hsgp(orders_all, m=10, c='2')"},
        ["hsgp() argument c is \"'2'\"; expected a number from 1.2 to 10.0"],
    ),
    "Gaussian process without m": (
        {"formula": "purchased_next_90d ~ hsgp(orders_all, c=1.5)"},
        ["hsgp() needs the argument m; write hsgp(x, m=10, c=1.5)"],
    ),
    "Gaussian process with its domain given as L": (
        {"formula": "purchased_next_90d ~ hsgp(orders_all, m=10, L=3)"},
        ["hsgp() argument 'L' is not supported (only m, c and cov"],
    ),
    "Gaussian process by a factor": (
        {"formula": "purchased_next_90d ~ hsgp(orders_all, m=10, c=1.5, by=favourite_channel)"},
        ["hsgp() argument 'by' is not supported"],
    ),
    "Gaussian process over two columns": (
        {"formula": "purchased_next_90d ~ hsgp(orders_all, recency_days, m=10, c=1.5)"},
        ["hsgp() takes exactly one column or expression, got 2"],
    ),
    "Gaussian process with an unknown covariance": (
        {"formula": "purchased_next_90d ~ hsgp(orders_all, m=10, c=1.5, cov='Periodic')"},
        ["hsgp() argument cov is \"'Periodic'\"; expected one of ExpQuad, Matern52, Matern32"],
    ),
    "prior on a Gaussian process term": (
        {
            "formula": "purchased_next_90d ~ hsgp(orders_all, m=10, c=1.5)",
            "priors": {"hsgp": {"dist": "Normal", "mu": 0, "sigma": 1}},
        },
        ["prior of 'hsgp': a Gaussian-process term takes Bambi's default priors"],
    ),
    "pairs of one column": (
        {"formula": "purchased_next_90d ~ pairs(scale(orders_all))"},
        ["pairs() takes 2 to 20 columns or expressions and no keyword arguments, got 1"],
    ),
    "pairs of 21 columns (210 products)": (
        {"formula": "purchased_next_90d ~ pairs(" + ", ".join(["orders_all"] * 21) + ")"},
        ["pairs() takes 2 to 20 columns or expressions and no keyword arguments, got 21"],
    ),
    "pairs with a keyword argument": (
        {"formula": "purchased_next_90d ~ pairs(orders_all, orders_all, degree=2)"},
        ["pairs() takes 2 to 20 columns", "['degree']"],
    ),
    "formula calling a builtin": (
        {"formula": "purchased_next_90d ~ open(orders_all)"},
        ["open(...) calls a function that formulas may not use"],
    ),
    "formula reaching a DataFrame method": (
        {"formula": "purchased_next_90d ~ data.to_csv(orders_all)"},
        ["data.to_csv(...) calls a function"],
    ),
    "formula naming a dotted path": (
        {"formula": "purchased_next_90d ~ orders_all + os.environ"},
        ["names 'os.environ', which is not a column name"],
    ),
    "formula with brackets": (
        {"formula": "purchased_next_90d ~ C(favourite_channel, levels=['email'])"},
        ["holds '['"],
    ),
    "spec name with a slash": ({"name": "../../escape"}, ["name '../../escape' must start with a letter"]),
    "non-numeric target_accept": (
        {"sampler": {"target_accept": "high"}},
        ["sampler.target_accept must be a number"],
    ),
    "non-integer seed": ({"sampler": {"seed": "abc"}}, ["sampler.seed must be a whole number, got 'abc'"]),
    "seed out of range": ({"sampler": {"seed": -5}}, ["sampler.seed must be in [0, 2**32)"]),
    "id that is a list": ({"id": ["client_id"]}, ["id must be text, got list"]),
    "negative prior sigma": (
        {"priors": {"scale(log1p(orders_all))": {"dist": "Normal", "mu": 0, "sigma": -1}}},
        ["prior of 'scale(log1p(orders_all))'", "is not valid"],
    ),
    "prior that is not a distribution": (
        {"priors": {"Intercept": {"dist": "sample", "mu": 0}}},
        ["prior of 'Intercept': dist 'sample' is not a PyMC distribution"],
    ),
    "prior with an unknown parameter": (
        {"priors": {"Intercept": {"dist": "Normal", "mu": 0, "width": 3}}},
        ["prior of 'Intercept'", "is not valid"],
    ),
    "prior value that is not a number": (
        {"priors": {"Intercept": "os.system"}},
        ["prior of 'Intercept': 'os.system' is not a finite number or a prior"],
    ),
}


@pytest.mark.parametrize("case", list(SPEC_ATTACKS))
def test_spec_attack_is_refused(
    case: str, attacked: tuple[Path, Path, dict], tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    db, runs, before = attacked
    changes, fragments = SPEC_ATTACKS[case]
    changes = json.loads(json.dumps(changes).replace("{pwned}", str(_pwned(tmp_path))))
    runs_before = sorted(p.name for p in runs.iterdir())
    argv = ["fit", "--spec", str(write_spec(tmp_path, **changes)), "--db", str(db), *FAST]
    _refused(argv, db, capsys, fragments, before)
    assert not _pwned(tmp_path).exists()
    assert sorted(p.name for p in runs.iterdir()) == runs_before


def _latest(runs: Path) -> Path:
    return runs / (runs / "LATEST").read_text().strip()


def test_tampered_saved_formula_is_refused_at_score(
    env: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    db, runs = env
    spec = _latest(runs) / "spec.yml"
    text = spec.read_text()
    assert "scale(log1p(orders_30d))" in text
    spec.write_text(
        text.replace("scale(log1p(orders_30d))", f"pd.read_csv(orders_30d, '{_pwned(tmp_path)}')")
    )
    _refused([*SCORE, "--db", str(db), "--quiet"], db, capsys, ["pd.read_csv(...) calls a function"])
    assert not _pwned(tmp_path).exists()


def test_tampered_saved_relation_is_refused_at_score(
    env: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    db, runs = env
    schema = _latest(runs) / "schema.json"
    meta = json.loads(schema.read_text())
    meta["relation"] = f"marts.customer_features; copy (select 1) to '{_pwned(tmp_path)}'"
    schema.write_text(json.dumps(meta))
    _refused([*SCORE, "--db", str(db), "--quiet"], db, capsys, ["must be a dbt model name or schema.table"])
    assert not _pwned(tmp_path).exists()


def test_truncated_posterior_is_refused(env: tuple[Path, Path], capsys: pytest.CaptureFixture) -> None:
    db, runs = env
    posterior = _latest(runs) / "posterior.nc"
    posterior.write_bytes(posterior.read_bytes()[:2000])
    _refused(
        [*SCORE, "--db", str(db), "--quiet"],
        db,
        capsys,
        ["posterior.nc cannot be read (truncated or corrupt?)"],
    )


def test_run_id_that_walks_out_of_the_runs_folder(
    env: tuple[Path, Path], capsys: pytest.CaptureFixture
) -> None:
    db, _ = env
    _refused(
        [*SCORE, "--run", "../../etc", "--db", str(db), "--quiet"], db, capsys, ["run id '../../etc' must"]
    )


def _listing(runs: Path) -> dict[str, object]:
    """Each entry of the runs folder: a run's file names, or the LATEST pointer's text."""
    return {
        p.name: sorted(q.name for q in p.iterdir()) if p.is_dir() else p.read_text() for p in runs.iterdir()
    }


def test_disk_full_while_fitting_saves_nothing(
    env: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    import arviz as az

    db, runs = env
    before = {
        p.name: sorted(q.name for q in p.iterdir()) if p.is_dir() else p.read_text() for p in runs.iterdir()
    }

    def full(*args: object, **kwargs: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(az.InferenceData, "to_netcdf", full)
    spec = SPECS / "purchase_90d.yml"
    _refused(
        ["fit", "--spec", str(spec), "--db", str(db), *FAST, "--seed", "3"],
        db,
        capsys,
        ["cannot save run purchase_90d-", "No space left on device", "earlier runs are intact"],
    )
    after = {
        p.name: sorted(q.name for q in p.iterdir()) if p.is_dir() else p.read_text() for p in runs.iterdir()
    }
    assert after == before  # no half-written run folder, LATEST unchanged


def test_disk_full_while_scoring_keeps_the_previous_scores(
    env: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    from targeting.core import warehouse

    db, _ = env

    def full() -> None:
        raise duckdb.IOException("Could not write file: No space left on device")

    monkeypatch.setattr(warehouse, "_fault_pause", full)
    _refused([*SCORE, "--db", str(db), "--quiet"], db, capsys, ["No space left on device"])


def test_export_onto_a_file_or_unwritable_place(
    env: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    db, _ = env
    a_file = tmp_path / "exports.parquet"
    a_file.write_text("keep me")
    _refused(["export", "--db", str(db), "--out", str(a_file)], db, capsys, ["is a file; expected a folder"])
    assert a_file.read_text() == "keep me"
    _refused(
        ["export", "--db", str(db), "--out", "/proc/marketing_mart_exports"],
        db,
        capsys,
        ["cannot create export folder /proc/marketing_mart_exports"],
    )


def test_export_path_with_quotes_is_data_not_sql(env: tuple[Path, Path], tmp_path: Path) -> None:
    db, _ = env
    out = tmp_path / "x'); copy (select 1) to 'pwned.csv"
    assert cli.main(["export", "--db", str(db), "--out", str(out)]) == 0
    assert (out / "targeting_list.parquet").exists()
    assert not Path("pwned.csv").exists() and not (tmp_path / "pwned.csv").exists()


def test_a_safe_filter_still_works(env: tuple[Path, Path], tmp_path: Path) -> None:
    db, _ = env
    spec = write_spec(
        tmp_path, filter="has_purchase_history and orders_all >= 1 and favourite_channel <> 'x'"
    )
    assert cli.main(["fit", "--spec", str(spec), "--db", str(db), *FAST]) == 0
