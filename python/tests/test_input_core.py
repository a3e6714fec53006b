"""One way to read what a user names: spec files, literal paths, no writes over inputs.

Fast tests (no warehouse build): every spec kind goes through the same bounded, strict reader,
and every refusal is one line naming the file, exit 2, nothing written.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
from pathlib import Path

import duckdb
import pytest

from targeting.cli import main as cli
from targeting.core.specs import SpecError, load_spec
from targeting.core.sqlsafe import MEASURED
from targeting.segments.spec import load_segment_spec
from targeting.uplift.spec import load_uplift_spec

from .conftest import REPO, run_dbt_in_process, write_spec

SPECS = REPO / "python" / "specs"
LOADERS = {
    "model": (load_spec, SPECS / "purchase_90d.yml"),
    "uplift": (load_uplift_spec, SPECS / "holdout_uplift.yml"),
    "segment": (load_segment_spec, SPECS / "segments.yml"),
}


def _spec_copy(tmp_path: Path, kind: str, extra: str = "", replace: tuple[str, str] | None = None) -> Path:
    text = LOADERS[kind][1].read_text()
    if replace:
        assert replace[0] in text, replace
        text = text.replace(replace[0], replace[1], 1)
    path = tmp_path / f"{kind} spec.yml"
    path.write_text(text + extra)
    return path


@pytest.mark.parametrize("kind", list(LOADERS))
def test_shipped_specs_still_load(kind: str) -> None:
    loader, path = LOADERS[kind]
    assert loader(path).name


@pytest.mark.parametrize(
    ("extra", "says"),
    [
        ("name: shadowed\n", ["key 'name' appears twice", "(lines "]),  # YAML would keep the last
        ("filtr: x > 0\n", ["unknown key 'filtr' (did you mean 'filter'?)"]),
    ],
    ids=["duplicate key", "misspelt key"],
)
@pytest.mark.parametrize("kind", list(LOADERS))
def test_spec_file_refusal_names_the_file(kind: str, extra: str, says: list[str], tmp_path: Path) -> None:
    loader, _ = LOADERS[kind]
    path = _spec_copy(tmp_path, kind, extra=extra)
    with pytest.raises(SpecError) as err:
        loader(path)
    msg = str(err.value)
    assert str(path) in msg and all(fragment in msg for fragment in says), msg


def test_unknown_sampler_setting_gets_a_did_you_mean(tmp_path: Path) -> None:
    path = _spec_copy(tmp_path, "model", replace=("draws:", "drawz:"))
    with pytest.raises(SpecError, match=r"unknown sampler setting 'drawz' \(did you mean 'draws'\?\)"):
        load_spec(path)


def test_alias_bomb_is_refused_before_it_is_built(tmp_path: Path) -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 10)]
    path = _spec_copy(tmp_path, "model", extra="\n".join(lines) + "\n")
    with pytest.raises(SpecError) as err:
        load_spec(path)
    assert str(path) in str(err.value) and "alias" in str(err.value), err.value


def test_nested_aliases_below_the_alias_limit_are_refused_by_size(tmp_path: Path) -> None:
    # 2 aliases a level, 30 levels: 60 alias uses expand to 2**30 values
    lines = ["b0: &b0 [x, x]"] + [f"b{i}: &b{i} [*b{i - 1}, *b{i - 1}]" for i in range(1, 31)]
    path = _spec_copy(tmp_path, "uplift", extra="\n".join(lines) + "\n")
    with pytest.raises(SpecError, match="expands to more than"):
        load_uplift_spec(path)


def test_recursive_alias_is_refused(tmp_path: Path) -> None:
    path = _spec_copy(tmp_path, "segment", extra="loop: &loop [*loop]\n")
    with pytest.raises(SpecError, match="expands to more than|recursive"):
        load_segment_spec(path)


def test_spec_that_is_a_link_to_an_endless_file_is_refused(tmp_path: Path) -> None:
    link = tmp_path / "endless.yml"
    os.symlink("/dev/zero", link)
    with pytest.raises(SpecError, match="not a regular file"):
        load_spec(link)


def test_oversized_spec_is_refused_without_reading_it_all(tmp_path: Path) -> None:
    path = _spec_copy(tmp_path, "model", extra="# " + "x" * (2 << 20) + "\n")
    with pytest.raises(SpecError, match="larger than 1,048,576 bytes"):
        load_spec(path)


def test_non_utf8_spec_names_the_file_and_byte(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yml"
    path.write_bytes(LOADERS["model"][1].read_bytes() + "# caf\xe9\n".encode("latin-1"))
    with pytest.raises(SpecError) as err:
        load_spec(path)
    assert str(path) in str(err.value) and "not UTF-8" in str(err.value) and "b'\\xe9'" in str(err.value)


@pytest.mark.parametrize(
    "formula",
    [
        "purchased_next_90d ~ scale(purchased_next_90d)",
        "purchased_next_90d ~ recency_days + log1p(purchased_next_90d)",
        "purchased_next_90d ~ recency_days + (1|purchased_next_90d)",
        "purchased_next_90d ~ recency_days:purchased_next_90d",
    ],
)
def test_label_on_the_right_of_the_formula_is_a_leak(formula: str, tmp_path: Path, capsys) -> None:
    path = write_spec(tmp_path, formula=formula)
    runs = tmp_path / "runs"
    code = cli.main(["fit", "--spec", str(path), "--db", str(tmp_path / "none.duckdb"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and "reads the label 'purchased_next_90d' on the right of '~'" in err, err
    assert str(path) in err and len(err.strip().splitlines()) == 1
    assert not runs.exists()


#: The arm, control and metric of the small A/B files below.
AB_CONVERTED = ["--arm", "arm", "--control", "control", "--metric", "converted"]


def _ab_csv(path: Path, rows: list[tuple[str, int]]) -> None:
    path.write_text("arm,converted\n" + "".join(f"{a},{c}\n" for a, c in rows))


def test_abtest_reads_the_named_csv_literally(tmp_path: Path, capsys) -> None:
    """`e[1].csv` is that file; DuckDB's glob would read `e1.csv` (here with the arms' results inverted)."""
    named = tmp_path / "e[1].csv"
    decoy = tmp_path / "e1.csv"
    _ab_csv(named, [("control", 0)] * 90 + [("control", 1)] * 10 + [("treat", 0)] * 70 + [("treat", 1)] * 30)
    _ab_csv(decoy, [("control", 0)] * 70 + [("control", 1)] * 30 + [("treat", 0)] * 90 + [("treat", 1)] * 10)
    assert cli.main(["abtest", "--experiment", "e1", *AB_CONVERTED, "--no-write", "--csv", str(named)]) == 0
    out = capsys.readouterr().out
    # the named file: treat converts at 0.30 against 0.10 (the decoy has them the other way)
    assert re.search(r"converted\s+treat\s+100\s+0\.3\s+0\.2\s", out), out


def test_abtest_refuses_a_header_that_names_a_column_twice(tmp_path: Path, capsys) -> None:
    path = tmp_path / "dup.csv"
    path.write_text("arm,converted,converted\ncontrol,0,1\ntreat,1,0\n")
    code = cli.main(["abtest", "--experiment", "d", "--csv", str(path), *AB_CONVERTED])
    err = capsys.readouterr().err
    assert code == 2 and str(path) in err and "names column 'converted' twice" in err, err


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_compile_sql_never_writes_over_the_warehouse(tmp_path: Path, capsys) -> None:
    db = tmp_path / "wh.duckdb"
    with duckdb.connect(str(db)) as con:
        con.execute("create table t as select 1 as x")
    before = _digest(db)
    other = tmp_path / "other.duckdb"
    with duckdb.connect(str(other)) as con:
        con.execute("create table t as select 2 as x")
    for out, says in ((db, "is the command's warehouse (--db)"), (other, "is a DuckDB database")):
        code = cli.main(["compile-sql", "--db", str(db), "--out", str(out)])
        err = capsys.readouterr().err
        assert code == 2 and f"--out {out} {says}" in err, err
    assert _digest(db) == before
    with duckdb.connect(str(other), read_only=True) as con:
        assert con.execute("select x from t").fetchone() == (2,)


# --- experiments: finite, estimable inputs, the same refusal in abtest and lift -----------------


def _experiment_csv(path: Path, rows: list[dict[str, object]]) -> Path:
    cols = list(rows[0])
    path.write_text(",".join(cols) + "\n" + "".join(",".join(str(r[c]) for c in cols) + "\n" for r in rows))
    return path


def _units(n: int = 40, **overrides: object) -> list[dict[str, object]]:
    """``n`` units a arm in two campaigns: a 0/1 conversion, revenue and cost that vary."""
    rows = []
    for i in range(2 * n):
        arm = "control" if i % 2 == 0 else "treat"
        rows.append(
            {
                "campaign": f"c{i % 4 // 2}",
                "arm": arm,
                "converted": int(i % 7 in (0, 3) or (arm == "treat" and i % 5 == 0)),
                "revenue": round(1.5 * (i % 11), 2),
                "cost": 1 + i % 3,
            }
        )
    return rows


def _ml_fingerprint(db: Path) -> dict[str, tuple]:
    with duckdb.connect(str(db), read_only=True) as con:
        return {
            t: con.execute(f"select count(*), sum(hash(columns(*))) from ml.{t}").fetchone()
            for t in ("ab_results", "campaign_lift")
        }


@pytest.fixture
def experiment_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A warehouse whose ml tables hold one earlier A/B result and one earlier lift analysis."""
    monkeypatch.setenv("MM_REPORTS_DIR", str(tmp_path / "reports"))
    db = tmp_path / "wh.duckdb"
    duckdb.connect(str(db)).close()
    good = _experiment_csv(tmp_path / "good.csv", _units())
    common = ["--csv", str(good), "--arm", "arm", "--control", "control", "--metric", "converted"]
    assert cli.main(["abtest", "--experiment", "earlier", *common, "--db", str(db)]) == 0
    assert cli.main(["lift", "--analysis", "earlier", "--group", "campaign", *common, "--db", str(db)]) == 0
    return db


def _set(rows: list[dict[str, object]], index: int, **values: object) -> list[dict[str, object]]:
    rows[index] = {**rows[index], **values}
    return rows


EXPERIMENT_CASES: dict[str, tuple[list[dict[str, object]], list[str], str]] = {
    # case: (rows, extra options, what the one line must say)
    "metric holding inf": (
        _set(_units(), 3, revenue="inf"),
        ["--metric", "revenue"],
        "column 'revenue' holds 1 infinite value(s)",
    ),
    "metric holding -inf": (
        _set(_units(), 5, revenue="-inf"),
        ["--metric", "revenue"],
        "column 'revenue' holds 1 infinite value(s)",
    ),
    "all-zero outcome": (
        [{**r, "converted": 0} for r in _units()],
        ["--metric", "converted"],
        "metric 'converted' is 0 on all 80 rows",
    ),
    "constant amount": (
        [{**r, "revenue": 9.5} for r in _units()],
        ["--metric", "revenue"],
        "metric 'revenue' is 9.5 on all 80 rows",
    ),
    "one-unit arm": (
        [*_units(), {"campaign": "c0", "arm": "solo", "converted": 1, "revenue": 1, "cost": 1}],
        ["--metric", "converted"],
        "arm 'solo' of column 'arm' has 1 unit(s)",
    ),
    "planned share nan": (
        _units(),
        ["--metric", "converted", "--planned", "control=nan,treat=1"],
        "planned share 'control=nan'",
    ),
    "planned share inf": (
        _units(),
        ["--metric", "converted", "--planned", "control=inf,treat=1"],
        "planned share 'control=inf'",
    ),
    "draws beyond memory": (
        _units(),
        ["--metric", "converted", "--draws", "2000000000"],
        "--draws must be from 1,000 to 1,000,000",
    ),
}


@pytest.mark.parametrize("command", ["abtest", "lift"])
@pytest.mark.parametrize("case", list(EXPERIMENT_CASES))
def test_experiment_input_is_refused_the_same_way(
    command: str, case: str, experiment_db: Path, tmp_path: Path, capsys
) -> None:
    rows, options, says = EXPERIMENT_CASES[case]
    csv = _experiment_csv(tmp_path / "bad.csv", rows)
    before = _ml_fingerprint(experiment_db)
    name = ["--experiment", "bad"] if command == "abtest" else ["--analysis", "bad", "--group", "campaign"]
    args = [
        command,
        *name,
        "--csv",
        str(csv),
        "--arm",
        "arm",
        "--control",
        "control",
        "--db",
        str(experiment_db),
    ]
    capsys.readouterr()
    code = cli.main([*args, *options])
    err = capsys.readouterr().err
    assert code == 2 and says in err, err
    assert len([line for line in err.splitlines() if "error:" in line]) == 1, err  # one line
    assert _ml_fingerprint(experiment_db) == before


def test_ratio_with_a_zero_denominator_in_an_arm_is_refused(
    experiment_db: Path, tmp_path: Path, capsys
) -> None:
    rows = [{**r, "cost": 0} if r["arm"] == "treat" else r for r in _units()]
    csv = _experiment_csv(tmp_path / "ratio.csv", rows)
    before = _ml_fingerprint(experiment_db)
    args = ["abtest", "--experiment", "r", "--csv", str(csv), "--arm", "arm", "--control", "control"]
    code = cli.main([*args, "--ratio", "roas=revenue/cost", "--db", str(experiment_db)])
    err = capsys.readouterr().err
    assert code == 2 and "ratio metric 'roas': column 'cost' sums to 0 in arm 'treat'" in err, err
    assert _ml_fingerprint(experiment_db) == before


@pytest.mark.slow  # imports Great Expectations (about 15 s) and runs dbt
def test_nan_posterior_sd_fails_validation_and_the_dbt_tests(
    warehouse: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    from targeting.core.warehouse import ensure_ml_tables

    db = tmp_path / "wh.duckdb"
    shutil.copy(warehouse, db)
    with duckdb.connect(str(db)) as con:
        ensure_ml_tables(con)
        con.execute(
            "insert into ml.customer_scores values "
            "('r1', '1', null, 0.2, 'nan'::double, 0.1, 0.3, 1, 1, false), "
            "('r1', '2', null, 0.1, 0.05, 0.05, 0.2, 2, 2, false)"
        )
    assert cli.main(["validate", "scores", "--db", str(db), "--run", "r1"]) == 1
    out = capsys.readouterr().out
    assert "FAIL scores" in out and "p_sd" in out, out
    res = run_dbt_in_process(["test", "--select", "stg_ml__customer_scores"], db)
    assert res.returncode != 0
    assert "FAIL 1 accepted_range_stg_ml__customer_scores_p_sd" in res.stdout, res.stdout[-3000:]


# --- uplift: the same refusals before any model is fitted ---------------------------------------


def _uplift_setup(tmp_path: Path, **column_changes: str) -> tuple[Path, Path]:
    """A DuckDB file with ``lab.units`` (not made by the generator) and an uplift spec over it."""
    import yaml

    db = tmp_path / "units.duckdb"
    values = {
        "unit": "i",
        "grp": "'g' || (i % 2)",
        "arm": "case when i % 2 = 0 then 'control' else 'treat' end",
        "converted": "(hash(i) % 5 = 0)::int",
        "visits": "(i % 13)::double",
        "spend": "(i % 7) * 1.5",
    }
    values.update(column_changes)
    select = ", ".join(f"{expr} as {name}" for name, expr in values.items())
    with duckdb.connect(str(db)) as con:
        con.execute("create schema lab")
        con.execute(f"create table lab.units as select {select} from range(400) as t(i)")
    spec = {
        "name": "units_uplift",
        "relation": "lab.units",
        "id": "unit",
        "group": "grp",
        "arm": "arm",
        "control": "control",
        "outcome": "converted",
        "features": ["visits", "log1p(spend)"],
        "models": ["interaction", "two_model"],
        "sampler": {"draws": 50, "tune": 50, "chains": 1},
    }
    path = tmp_path / "uplift.yml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return db, path


@pytest.mark.parametrize(
    ("changes", "says"),
    [
        ({"converted": "0"}, "outcome 'converted' is 0 on all 400 rows"),
        ({"grp": "case when i = 7 then null else 'g' end"}, "column 'grp' of lab.units is empty on 1 rows"),
        ({"spend": "case when i = 3 then 'inf'::double else 1.0 + i end"}, "column 'spend' holds 1 infinite"),
    ],
)
def test_uplift_refuses_before_any_model_is_fitted(
    changes: dict[str, str], says: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    monkeypatch.setenv("MM_REPORTS_DIR", str(tmp_path / "reports"))
    db, spec = _uplift_setup(tmp_path, **changes)
    code = cli.main(["uplift", "--spec", str(spec), "--db", str(db), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and says in err, err
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute("select count(*) from duckdb_tables() where schema_name = 'ml'").fetchone()[0] == 0


def test_uplift_bootstrap_below_twenty_is_refused(tmp_path: Path) -> None:
    from targeting.uplift.spec import load_uplift_spec

    _db, spec = _uplift_setup(tmp_path)
    spec.write_text(spec.read_text() + "bootstrap: 0\n")
    with pytest.raises(SpecError, match="bootstrap must be a whole number >= 20, got 0"):
        load_uplift_spec(spec)


def test_fit_refuses_an_infinite_predictor_before_sampling(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    """An inf in a predictor crashed the sampler's initialisation (a Rust panic); now one line."""
    import yaml

    monkeypatch.setenv("MM_RUNS_DIR", str(tmp_path / "runs"))
    db = tmp_path / "t.duckdb"
    with duckdb.connect(str(db)) as con:
        con.execute("create schema s")
        con.execute(
            "create table s.t as select 'c' || i as cid, "
            "case when i = 5 then 'inf'::double else (i % 17) * 1.5 end as spend, "
            "(hash(i) % 3 = 0)::int as y from range(300) as r(i)"
        )
    spec = tmp_path / "inf.yml"
    spec.write_text(
        yaml.safe_dump(
            {"name": "inf", "relation": "s.t", "id": "cid", "label": "y", "formula": "y ~ scale(spend)"}
        )
    )
    code = cli.main(["fit", "--spec", str(spec), "--db", str(db), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and "column 'spend' holds 1 infinite value(s)" in err, err
    assert not (tmp_path / "runs").exists()


def _manifest_declaring(tmp_path: Path, schema: str, table: str, column: str, measured: str) -> Path:
    """A dbt manifest whose model ``schema.table`` declares ``meta: {measured: ...}`` on a column."""
    import json

    node = {
        "resource_type": "model",
        "name": table,
        "schema": schema,
        "original_file_path": f"models/{table}.yml",
        "columns": {column: {"name": column, "config": {"meta": {"measured": measured}}}},
    }
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps({"nodes": {f"model.p.{table}": node}}))
    return path


def _fit_spec_over_units(tmp_path: Path) -> Path:
    import yaml

    spec = tmp_path / "fit.yml"
    raw = {"name": "units", "relation": "lab.units", "id": "unit", "label": "converted",
           "formula": "converted ~ scale(visits) + scale(spend)"}  # fmt: skip
    spec.write_text(yaml.safe_dump(raw))
    return spec


@pytest.mark.parametrize("command", ["fit", "uplift"])
@pytest.mark.parametrize(
    ("measured", "says"),
    [
        ("after_cutoff", "an outcome (its dbt YAML declares meta measured: after_cutoff)"),
        ("after_assignment", "an outcome (its dbt YAML declares meta measured: after_assignment)"),
        ("afterwards", "models/units.yml: column spend of model units declares meta measured: 'afterwards'"),
    ],
)
def test_a_column_declared_an_outcome_is_never_a_predictor(
    command: str, measured: str, says: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    """What the relation's dbt YAML declares decides, not the column's name; a value outside the
    documented ones is refused (a typo must not switch the check off)."""
    monkeypatch.setenv("MM_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.setenv("MM_REPORTS_DIR", str(tmp_path / "reports"))
    db, uplift_spec = _uplift_setup(tmp_path)
    manifest = _manifest_declaring(tmp_path, "lab", "units", "spend", measured)
    monkeypatch.setenv("MM_DBT_MANIFEST", str(manifest))
    spec = _fit_spec_over_units(tmp_path) if command == "fit" else uplift_spec
    code = cli.main([command, "--spec", str(spec), "--db", str(db), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and says in err, err
    assert len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "runs").exists()
    if measured == "afterwards":
        assert f"expected one of {list(MEASURED)}" in err, err
    else:
        role = "predictor" if command == "fit" else "feature"  # the one binding step's words
        assert f"{role} column 'spend' of lab.units is an outcome" in err, err


@pytest.mark.parametrize(
    ("kind", "replace", "says"),
    [
        ("uplift", ("id: client_id", "id: ''"), "id is empty; give a value or leave the key out"),
        ("uplift", ("id: client_id", "id: '   '"), "id is empty; give a value or leave the key out"),
        ("uplift", ("id: client_id", "id: [client_id, bulk_campaign_id]"), "id must be text, got list"),
        ("uplift", ("id: client_id", "id: 7"), "id must be text, got int 7"),
        ("uplift", ("group: bulk_campaign_id", "group: ''"), "group is empty"),
        ("uplift", ("filter: window_complete", "filter: ''"), "filter is empty"),
        ("model", ("filter: has_purchase_history", "filter: ' '"), "filter is empty"),
        ("model", ("as_of: as_of_date", "as_of: ''"), "as_of is empty"),
        ("model", ("labels: customer_labels", "labels: {a: 1}"), "labels must be text, got dict"),
    ],
)
def test_an_empty_or_non_text_key_is_refused_not_taken_as_absent(
    kind: str, replace: tuple[str, str], says: str, tmp_path: Path
) -> None:
    path = _spec_copy(tmp_path, kind, replace=replace)
    with pytest.raises(SpecError) as err:
        LOADERS[kind][0](path)
    assert str(err.value).startswith(f"{path}: ") and says in str(err.value), err.value


@pytest.mark.parametrize("kind", list(LOADERS))
@pytest.mark.parametrize(
    ("entry", "says"),
    [
        (
            "missing: sometimes\n",
            "missing is 'sometimes'; expected one of ['drop', 'median', 'mean', 'level']",
        ),
        ("missing: .nan\n", "missing is nan; expected one of"),
        (
            "missing: {colums: {x: median}}\n",
            "missing has unknown key 'colums'; expected default and columns",
        ),
        ("missing: {columns: [median]}\n", "missing.columns must map column names to rules"),
        ("missing: {default: 'drop; select 1'}\n", "missing.default is 'drop; select 1'"),
        ("missing: ''\n", "missing is ''; expected one of"),
        ("missing: [median]\n", "missing is ['median']; expected one of"),
        ("missing: true\n", "missing is True; expected one of"),
        ("missing: -.inf\n", "missing is -inf; expected one of"),
        ("missing: {columns: {x: .inf}}\n", "missing.columns.x is inf; expected one of"),
    ],
)
def test_a_malformed_missing_policy_is_refused_by_every_spec_kind(
    kind: str, entry: str, says: str, tmp_path: Path
) -> None:
    path = _spec_copy(tmp_path, kind, entry)
    with pytest.raises(SpecError) as err:
        LOADERS[kind][0](path)
    assert str(err.value).startswith(f"{path}: ") and says in str(err.value), err.value


@pytest.mark.parametrize("kind", ["uplift", "segment"])
def test_a_missing_rule_for_a_column_the_spec_does_not_use_is_refused(kind: str, tmp_path: Path) -> None:
    path = _spec_copy(tmp_path, kind, "missing: {columns: {click_rate_356d: median}}\n")
    with pytest.raises(
        SpecError, match="missing.columns names 'click_rate_356d', which the spec does not use"
    ):
        LOADERS[kind][0](path)


def test_imputation_in_sql_equals_imputation_in_python() -> None:
    """The scoring statement's imputation (coalesce, indicator) gives the frame Bambi was fitted on."""
    import numpy as np
    import pandas as pd

    from targeting.core import missing
    from targeting.models import sqlscore

    frame = pd.DataFrame(
        {
            "id": ["a", "b", "c", "d", "e"],
            "spend": [1.0, np.nan, 3.0, 10.0, np.nan],
            "visits": [1.0, 2.0, np.nan, 4.0, 5.0],
            "region": ["n", None, "s", "s", "n"],
        }
    )
    policy = missing.MissingPolicy("drop", {"spend": "median", "visits": 7.5, "region": "level"})
    imputation = missing.learn(policy, frame, ["spend", "visits", "region"], "spec.yml")
    assert imputation.values == {"spend": 3.0, "visits": 7.5, "region": "(missing)"}
    assert imputation.indicators == ("spend", "visits")
    python = imputation.apply(frame)
    assert python["spend__missing"].tolist() == [0, 1, 0, 0, 1]
    source = sqlscore.impute_source(
        "select * from frame", imputation, "id", ["spend", "visits", "region"], "duckdb"
    )
    with duckdb.connect() as con:
        con.register("frame", frame)
        sql = con.execute(f"{source} order by id").df()
    columns = ["id", "spend", "visits", "region", "spend__missing", "visits__missing"]
    pd.testing.assert_frame_equal(
        sql[columns].astype({"spend__missing": "int8", "visits__missing": "int8"}),
        python[columns].astype({"region": "object"}),
        check_dtype=False,
    )
    # under a default that does not suit a column's type, its missing values drop the row
    # (nothing imputes them): a level default drops numbers, a median default drops text
    assert missing.MissingPolicy("level").dropped(["spend", "region"], frame) == ["spend"]
    assert missing.MissingPolicy("median").dropped(["spend", "region"], frame) == ["region"]
    # a rule that does not suit its column is refused, naming both
    with pytest.raises(missing.MissingPolicyError, match="missing rule 'median' for 'region', a text column"):
        missing.learn(missing.MissingPolicy("drop", {"region": "median"}), frame, ["region"], "spec.yml")
    with pytest.raises(
        missing.MissingPolicyError, match="missing rule 'level' for 'spend', a numeric column"
    ):
        missing.learn(missing.MissingPolicy("drop", {"spend": "level"}), frame, ["spend"], "spec.yml")


def test_lift_warns_when_too_few_groups_inform_the_pooled_row(tmp_path: Path, capsys) -> None:
    """Two campaigns cannot inform the spread between campaigns: the pooled row is mostly prior."""
    db = tmp_path / "wh.duckdb"
    duckdb.connect(str(db)).close()
    args = ["lift", "--analysis", "few", "--group", "campaign", "--arm", "arm", "--control", "control"]
    args += ["--metric", "converted", "--db", str(db), "--no-write"]
    two = _experiment_csv(tmp_path / "two.csv", _units())  # campaigns c0 and c1
    assert cli.main([*args, "--csv", str(two)]) == 0
    assert "warning: 2 group(s) of campaign; with fewer than 3 the pooled row" in capsys.readouterr().err
    three = _experiment_csv(
        tmp_path / "three.csv", [{**r, "campaign": f"c{i % 3}"} for i, r in enumerate(_units(60))]
    )
    assert cli.main([*args, "--csv", str(three)]) == 0
    assert "warning" not in capsys.readouterr().err
