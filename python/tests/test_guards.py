"""Fast unit tests of the guards on outside input: identifiers, filters, formulas, names, rules.

No warehouse build and no fit: these run in the fast loop (`make test-fast`).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from targeting.core import layout
from targeting.core.formulas import FormulaError, check_formula, new_model
from targeting.core.sqlsafe import UnsafeSqlError, check_filter, check_name, ident, resolve

from .conftest import REPO


@pytest.fixture
def con() -> duckdb.DuckDBPyConnection:
    c = duckdb.connect()
    c.execute("create schema s")
    c.execute('create table s.t (id bigint, x double, flag boolean, "odd name" varchar)')
    c.execute("insert into s.t values (1, 2.0, true, 'a'), (2, 3.0, false, 'b')")
    return c


def test_ident_quotes_whatever_the_name_holds(con: duckdb.DuckDBPyConnection) -> None:
    assert ident('a"b') == '"a""b"'
    assert con.execute(f"select {ident('odd name')} from s.t order by 1").fetchall() == [("a",), ("b",)]


def test_resolve_checks_the_catalog(con: duckdb.DuckDBPyConnection) -> None:
    rel = resolve(con, "s.t")
    assert rel.sql == '"s"."t"' and list(rel.columns) == ["id", "x", "flag", "odd name"]
    with pytest.raises(UnsafeSqlError, match="does not exist in the warehouse; relations are: s.t"):
        resolve(con, "s.t; drop table t")
    with pytest.raises(UnsafeSqlError, match="must be a dbt model name or schema.table"):
        resolve(con, "a.b.c")
    with pytest.raises(UnsafeSqlError, match="is not a column of s.t"):
        rel.column("id; drop table s.t", "id", "spec")
    assert con.execute("select count(*) from s.t").fetchone()[0] == 2


@pytest.mark.parametrize(
    ("expr", "message"),
    [
        ("flag; drop table s.t", "contains ';'"),
        ("flag /* c */", "contains '/\\*'"),
        ("id in (select 1)", "holds a subquery"),
        ("exists (select * from read_csv('x.csv'))", "holds a subquery"),
        ("true) union all select * from s.t where (true", "is not one condition"),
        ("true) order by (id", "is not one condition"),
        ("other.id = 1", "names 'other.id'"),
        ("missing = 1", "names 'missing'"),
        ("getenv('HOME') = ''", "calls getenv"),
        ("current_setting('threads') = '1'", "calls current_setting"),
        ("row_number() over () = 1", "window function"),
        ("x >", "is not one SQL condition"),
        ("no_such_function(x)", "does not bind to s.t"),
    ],
)
def test_filter_is_one_condition_over_the_relations_columns(
    con: duckdb.DuckDBPyConnection, expr: str, message: str
) -> None:
    with pytest.raises(UnsafeSqlError, match=message):
        check_filter(con, resolve(con, "s.t"), expr)
    assert con.execute("select count(*) from s.t").fetchone()[0] == 2


def test_good_filters_pass(con: duckdb.DuckDBPyConnection) -> None:
    rel = resolve(con, "s.t")
    for expr in ("flag", "x > 2 and id in (1, 2)", "coalesce(x, 0) >= 0 or \"odd name\" like 'a%'"):
        assert check_filter(con, rel, expr) == expr


@pytest.mark.parametrize(
    ("formula", "message"),
    [
        ("y ~ np.log(x)", "np.log\\(...\\) calls a function"),
        ("y ~ __import__(x)", "does not parse"),
        ("y ~ eval(x)", "eval\\(...\\) calls a function"),
        ("y ~ x + os.environ", "names 'os.environ'"),
        ("y ~ x + __builtins__", "does not parse"),
        ("y ~ x + _private", "does not parse"),
        ("y ~ C(x, levels=['a'])", "holds '\\['"),
        ("y ~ {x + 1}", "holds '\\{'"),
    ],
)
def test_formula_outside_the_documented_transforms_is_refused(formula: str, message: str) -> None:
    with pytest.raises(FormulaError, match=message):
        check_formula(formula, "spec.yml")


def test_documented_formulas_pass() -> None:
    check_formula("y ~ scale(log1p(a)) + decay(d, 30) + C(g) + a:b + I(a ** 2) + (1|g) + `odd name`", "s")


def test_formulae_reaches_only_transforms_and_columns_even_past_the_check(tmp_path: object) -> None:
    frame = pd.DataFrame({"y": [0, 1, 0, 1], "x": [1.0, 2.0, 3.0, 4.0]})
    data = frame  # a local the formula engine would otherwise find in this frame  # noqa: F841
    with pytest.raises(FormulaError, match="data.to_csv"):
        new_model("y ~ data.to_csv(x)", frame, family="bernoulli")
    with pytest.raises(Exception, match="pd"):
        new_model("y ~ pd", frame, family="bernoulli")
    assert new_model("y ~ scale(log1p(x))", frame, family="bernoulli") is not None


@pytest.mark.parametrize("name", ["../x", "a/b", "", ".hidden", "a" * 101, "a..b", "x y"])
def test_names_that_become_files_are_plain(name: str) -> None:
    with pytest.raises(UnsafeSqlError, match="must start with a letter or digit"):
        check_name(name, "name", "spec")


def test_value_rules_are_strict() -> None:
    ident_rule = re.compile(layout.full_match("id"))
    number = re.compile(layout.full_match("number"))
    date = re.compile(layout.full_match("date"))
    assert ident_rule.match("1515915625468060902")
    for bad in ("1.515915625468061e+18", "0x1F", "1_000", "-1", " 1", "12345678901234567890"):
        assert not ident_rule.match(bad), bad
    assert number.match("1999.0") and number.match("-3")
    for bad in ("nan", "inf", "1e3", "1,5", ""):
        assert not number.match(bad), bad
    assert date.match("2022-05-16") and not date.match("22-05-16") and not date.match("2022/05/16")


def test_layout_columns_come_from_the_dbt_sources() -> None:
    assert layout.PURCHASE_COLUMNS == ["client_id", "quantity", "price", "category_ids", "date", "message_id"]
    assert layout.TARGET_COLUMNS == ["client_id", "target"]
    assert layout.MESSAGE_COLUMNS[:2] == ["bulk_campaign_id", "client_id"]


def test_every_command_help_reads_as_written(capsys: pytest.CaptureFixture) -> None:
    """Each command's --help prints its percentages once (a description is not %-formatted)."""
    from targeting.cli import main as cli

    parser = cli.build_parser()
    commands = next(a for a in parser._actions if a.dest == "command").choices
    for name in commands:
        with pytest.raises(SystemExit) as done:
            cli.main([name, "--help"])
        assert done.value.code == 0
        text = capsys.readouterr().out
        assert "%%" not in text, name
        assert text.startswith(f"usage: targeting {name}"), name


def _run_record() -> dict[str, object]:
    """A complete run record as ``fit`` writes it (values made up, layout real)."""
    from targeting.core.specs import Sampler
    from targeting.models.runs import DiagnosticsRecord, RunRecord, sampler_settings

    record = RunRecord(
        run_id="m-0123456789ab",
        spec_name="m",
        spec_path="m.yml",
        formula="y ~ x",
        family="bernoulli",
        relation="main.t",
        labels=None,
        predictors=["x"],
        group_factors=[],
        group_levels={},
        fixed_levels={},
        column_types={"x": "float64"},
        sampler=sampler_settings(Sampler()),
        n_train_rows=10,
        n_train_positives=3,
        n_dropped_missing=0,
        train_as_of_min=None,
        train_as_of_max=None,
        diagnostics=DiagnosticsRecord(
            max_r_hat=1.0, min_ess_bulk=900.0, divergences=0, ok=True, message="ok"
        ),
        fit_seconds=1.0,
        fitted_at="2026-12-07T00:00:00",
    )
    return json.loads(record.to_json())


def test_run_record_round_trips_with_its_format_version() -> None:
    from targeting.models.runs import RUN_FORMAT_VERSION, RunRecord

    raw = _run_record()
    assert raw["format_version"] == RUN_FORMAT_VERSION
    assert json.loads(RunRecord.from_json(json.dumps(raw), "schema.json").to_json()) == raw
    # written before the field existed: the same layout, read as format 1
    del raw["format_version"]
    assert RunRecord.from_json(json.dumps(raw), "schema.json").format_version == 1


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"format_version": 2},
            "schema.json: the run record is format 2; this version of marketing_mart reads format 1",
        ),
        ({"format_version": "1"}, "the run record is format '1'"),
        (
            {"diagnostics": {"ok": True}},
            "schema.json: diagnostics must hold exactly ['divergences', 'max_r_hat'",
        ),
        (
            {
                "diagnostics": {
                    "max_r_hat": "1.0",
                    "min_ess_bulk": 1.0,
                    "divergences": 0,
                    "ok": True,
                    "message": "",
                }
            },
            "diagnostics.max_r_hat must be a number or null, got '1.0'",
        ),
        ({"sampler": "nutpie"}, "schema.json: sampler must be a mapping of settings"),
    ],
)
def test_a_run_record_of_another_format_is_refused_by_name(change: dict[str, object], message: str) -> None:
    from targeting.models.runs import RunError, RunRecord

    raw = {**_run_record(), **change}
    with pytest.raises(RunError, match=re.escape(message)):
        RunRecord.from_json(json.dumps(raw), "schema.json")


def test_the_vocabulary_names_only_events_and_channels_the_seeds_know() -> None:
    """Every raw event and channel of the one vocabulary is in the seeds staging checks against."""
    vocab = layout.vocabulary()
    seeds = layout.REPO / "seeds"
    events = set(pd.read_csv(seeds / "event_taxonomy.csv")["event"])
    channels = set(pd.read_csv(seeds / "channels.csv")["channel"])
    raw_events = [*vocab["counted_events"].values(), *vocab["flag_events"].values()]
    assert set(raw_events) <= events and len(raw_events) == len(set(raw_events))
    assert set(vocab["channels"].values()) <= channels
    for key in ("engagement_windows", "order_windows"):
        assert vocab[key] == sorted(set(vocab[key])) and min(vocab[key]) >= 1


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("BENCH_SECTIONS=apparell", "BENCH_SECTIONS='apparell' names 'apparell'; expected comma-separated"),
        ("BENCH_SECTIONS=", "BENCH_SECTIONS='' names ''; expected comma-separated sections"),
        ("BENCH_SECTIONS=../mart", "BENCH_SECTIONS='../mart' names '../mart'"),
        ("BENCH_SECTIONS=mart;rm -rf data", "names 'mart;rm -rf data'"),
        ("BENCH_SCALE=nan", "BENCH_SCALE='nan' is not a number above 0"),
        ("BENCH_SCALE=inf", "BENCH_SCALE='inf' is not a number above 0"),
        ("BENCH_SCALE=-1", "BENCH_SCALE='-1' is not a number above 0"),
        ("BENCH_SCALE=one", "BENCH_SCALE='one' is not a number above 0"),
        ("BENCH_FIT_ROWS=1.5", "BENCH_FIT_ROWS='1.5' is not a whole number above 0"),
        ("BENCH_FIT_ROWS=0", "BENCH_FIT_ROWS='0' is not a whole number above 0"),
    ],
)
def test_bad_bench_setting_is_refused_before_anything_runs(
    setting: str, message: str, tmp_path: Path
) -> None:
    """`make bench` names the setting and what was expected, exits 2, and starts nothing: the
    script, copied into an empty folder, creates no data folder there."""
    (tmp_path / "benchmarks").mkdir()
    script = shutil.copy(REPO / "benchmarks" / "bench.py", tmp_path / "benchmarks" / "bench.py")
    name, value = setting.split("=", 1)
    env = {k: v for k, v in os.environ.items() if not k.startswith("BENCH_")} | {name: value}
    res = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=60)
    assert res.returncode == 2 and message in res.stderr and "Traceback" not in res.stderr, res.stderr
    assert not (tmp_path / "data").exists() and res.stdout == ""
