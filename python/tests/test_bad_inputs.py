"""The bad-input catalogue: each broken input fails with a message naming the file, column
and value, exits non-zero, and leaves the warehouse's earlier tables as they were."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from targeting.cli import main as cli
from targeting.core import layout

from .conftest import REPO, run_dbt, run_dbt_in_process, write_lock_held

pytestmark = pytest.mark.slow  # builds a warehouse with dbt or fits models

P, M, T, A = layout.PURCHASES, layout.MESSAGES, layout.TARGETS, layout.ASSIGNMENTS
KEPT_TABLES = ("staging.stg_apparel__purchases", "staging.stg_apparel__messages", "marts.customer_features")


def _replace(name: str, old: str, new: str, count: int = 1) -> Callable[[Path], None]:
    def breaker(raw: Path) -> None:
        path = raw / f"{name}.csv"
        text = path.read_text()
        assert old in text, (name, old)
        path.write_text(text.replace(old, new, count))

    return breaker


def _header(name: str, header: str) -> Callable[[Path], None]:
    def breaker(raw: Path) -> None:
        path = raw / f"{name}.csv"
        lines = path.read_text().split("\n")
        path.write_text("\n".join([header, *lines[1:]]))

    return breaker


def _rewrite(name: str, change: Callable[[list[str]], list[str]]) -> Callable[[Path], None]:
    def breaker(raw: Path) -> None:
        path = raw / f"{name}.csv"
        lines = path.read_text().rstrip("\n").split("\n")
        path.write_text("\n".join(change(lines)) + "\n")

    return breaker


def _set_field(line: str, index: int, value: str) -> str:
    fields = line.split(",")
    fields[index] = value
    return ",".join(fields)


def _drop_column(lines: list[str], index: int) -> list[str]:
    return [",".join(c for i, c in enumerate(line.split(",")) if i != index) for line in lines]


#: the staging model that reads each raw file
STAGED_BY = {
    P: "stg_apparel__purchases",
    M: "stg_apparel__messages",
    T: "stg_apparel__targets",
    A: "stg_apparel__campaign_assignments",
    layout.CAMPAIGN_DAILY: "stg_apparel__campaign_daily_events",
}

# case: (breaker, fragments the output must contain (the broken file's name first), whether dbt must fail)
CATALOGUE: dict[str, tuple[Callable[[Path], None], list[str], bool]] = {
    "missing file": (lambda raw: (raw / f"{P}.csv").unlink(), [f"{P}.csv", "No files found"], True),
    "empty file": (lambda raw: (raw / f"{T}.csv").write_text(""), [f"{T}.csv", "has no data rows"], True),
    "header only": (
        lambda raw: (raw / f"{T}.csv").write_text("client_id,target\n"),
        [f"{T}.csv", "has no data rows"],
        True,
    ),
    "renamed column": (
        _header(M, "bulk_campaign_id,client_id,message_id,event,chanel,date,created_at"),
        [f"{M}.csv", "missing column(s) channel", "chanel"],
        True,
    ),
    "missing column": (
        _rewrite(P, lambda lines: _drop_column(lines, 2)),
        [f"{P}.csv", "missing column(s) price"],
        True,
    ),
    "wrong delimiter": (
        _rewrite(T, lambda lines: [line.replace(",", ";") for line in lines]),
        [f"{T}.csv", "missing column(s) client_id, target", "Check the delimiter"],
        True,
    ),
    "truncated last line": (
        lambda raw: (raw / f"{P}.csv").write_bytes((raw / f"{P}.csv").read_bytes()[:-60]),
        [f"{P}.csv", "CSV Error on Line", "unterminated quote"],
        True,
    ),
    "non-numeric price": (_replace(P, ".0,", "x,"), [f"{P}.csv", "column price", "x'", "not a number"], True),
    "negative quantity": (
        _rewrite(P, lambda lines: [lines[0], lines[1].replace(",1,", ",-3,", 1), *lines[2:]]),
        [f"{P}.csv", "column quantity has value '-3'", "positive number"],
        True,
    ),
    "unparsable date": (_replace(P, ",2022-05-", ",2022/05-"), [f"{P}.csv", "column date", "2022/05-"], True),
    "future date": (
        _rewrite(M, lambda lines: [lines[0], _set_field(lines[1], 5, "2099-05-19"), *lines[2:]]),
        [f"{M}.csv", "column date has value '2099-05-19'", "up to today"],
        True,
    ),
    "unknown event": (
        _replace(M, ",send,", ",teleport,"),
        [f"{M}.csv", "column event", "'teleport'", "event_taxonomy"],
        True,
    ),
    "unknown channel": (
        _replace(M, ",email,", ",carrier_pigeon,"),
        [f"{M}.csv", "column channel", "'carrier_pigeon'", "channels seed"],
        True,
    ),
    "malformed category_ids": (
        _replace(P, "\"['", "\"[['"),
        [f"{P}.csv", "column category_ids", "[['", "Python list"],
        True,
    ),
    "client_id beyond 64-bit": (
        _rewrite(T, lambda lines: [lines[0], "99999999999999999999,0", *lines[2:]]),
        [f"{T}.csv", "column client_id", "99999999999999999999", "64-bit"],
        True,
    ),
    "duplicate target rows": (
        _rewrite(T, lambda lines: [*lines, lines[1]]),
        [f"{T}.csv", "column client_id", "listed more than once"],
        True,
    ),
    # strict values: the text must be exactly what the column holds, no lenient cast
    "client id in scientific notation": (
        _rewrite(T, lambda lines: [lines[0], "1.515915625468061e+18,0", *lines[2:]]),
        [f"{T}.csv", "column client_id has value '1.515915625468061e+18'", "whole digits"],
        True,
    ),
    "quantity with a fraction": (
        _rewrite(P, lambda lines: [lines[0], _set_field(lines[1], 1, "1.6"), *lines[2:]]),
        [f"{P}.csv", "column quantity has value '1.6'", "whole number of units"],
        True,
    ),
    "quantity in hexadecimal": (
        _rewrite(P, lambda lines: [lines[0], _set_field(lines[1], 1, "0x1F"), *lines[2:]]),
        [f"{P}.csv", "column quantity has value '0x1F'"],
        True,
    ),
    "quantity with a digit separator": (
        _rewrite(P, lambda lines: [lines[0], _set_field(lines[1], 1, "1_000"), *lines[2:]]),
        [f"{P}.csv", "column quantity has value '1_000'"],
        True,
    ),
    "price NaN": (
        _rewrite(P, lambda lines: [lines[0], _set_field(lines[1], 2, "nan"), *lines[2:]]),
        [f"{P}.csv", "column price has value 'nan'", "not a number"],
        True,
    ),
    "price infinite": (
        _rewrite(P, lambda lines: [lines[0], _set_field(lines[1], 2, "inf"), *lines[2:]]),
        [f"{P}.csv", "column price has value 'inf'"],
        True,
    ),
    "two-digit year": (
        _replace(P, ",2022-05-", ",22-05-"),
        [f"{P}.csv", "column date has value '22-05-", "format %Y-%m-%d from year 2000"],
        True,
    ),
    "date before 2000": (
        _replace(P, ",2022-05-", ",1999-05-"),
        [f"{P}.csv", "column date has value '1999-05-", "from year 2000"],
        True,
    ),
    "timestamp with a two-digit year": (
        _rewrite(M, lambda lines: [lines[0], _set_field(lines[1], 6, "22-05-19 10:00:00"), *lines[2:]]),
        [f"{M}.csv", "column created_at has value '22-05-19 10:00:00'"],
        True,
    ),
    "empty client id": (
        _rewrite(M, lambda lines: [lines[0], _set_field(lines[1], 1, ""), *lines[2:]]),
        [f"{M}.csv", "column client_id is empty on a row where a client id"],
        True,
    ),
    "empty date": (
        _rewrite(M, lambda lines: [lines[0], _set_field(lines[1], 5, ""), *lines[2:]]),
        [f"{M}.csv", "column date is empty on a row where a date is required"],
        True,
    ),
    "campaign id with letters": (
        _rewrite(M, lambda lines: [lines[0], _set_field(lines[1], 0, "12a"), *lines[2:]]),
        [f"{M}.csv", "column bulk_campaign_id has value '12a'", "campaign id"],
        True,
    ),
    "category id beyond 64 bits": (
        _replace(P, "\"['", "\"['99999999999999999999', '"),
        [f"{P}.csv", "column category_ids has value", "99999999999999999999", "fit 64-bit integers"],
        True,
    ),
    "daily counter with a fraction": (
        _rewrite(layout.CAMPAIGN_DAILY, lambda lines: [lines[0], _set_field(lines[1], 2, "2.5"), *lines[2:]]),
        [f"{layout.CAMPAIGN_DAILY}.csv", "column count_click has value '2.5'", "whole-number count"],
        True,
    ),
    "assignment in the future": (
        _rewrite(A, lambda lines: [lines[0], _set_field(lines[1], 3, "2099-08-17 00:00:00"), *lines[2:]]),
        [f"{A}.csv", "column assigned_at has value '2099-08-17 00:00:00'", "a time up to today"],
        True,
    ),
    "client assigned twice to one holdout campaign": (
        _rewrite(A, lambda lines: [*lines[:2], lines[1].replace(",treatment,", ",control,"), *lines[2:]]),
        [f"{A}.csv", "column client_id", "assigned to campaign", "more than once"],
        True,
    ),
    "column named twice in the header": (
        _rewrite(P, lambda lines: [lines[0] + ",price", *[line + ",1.0" for line in lines[1:]]]),
        [f"{P}.csv", "names column price twice in its header (read as price and price_1)"],
        True,
    ),
    "extra column (accepted, with a warning)": (
        _rewrite(T, lambda lines: [lines[0] + ",segment", *[line + ",x" for line in lines[1:]]]),
        [f"{T}.csv", "column(s) segment that the project does not read"],
        False,
    ),
}


def _fingerprint(db: Path) -> dict[str, tuple]:
    """Row count and an order-independent hash of every value (the raw path aside, and the load
    id: each case's raw copy sits at a new path, so the messages file is staged again, by a
    later load, holding the same rows)."""
    out = {}
    with duckdb.connect(str(db), read_only=True) as con:
        for table in KEPT_TABLES:
            described = con.execute(f"describe {table}").fetchall()
            cols = [r[0] for r in described if r[0] not in ("source_file", "load_id")]
            out[table] = con.execute(f"select count(*), sum(hash({', '.join(cols)})) from {table}").fetchone()
    return out


@pytest.fixture(scope="module")
def case_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One folder for every case in turn: the same raw path and dbt target path let every case
    run on one parse of the project (in process, see run_dbt_in_process)."""
    return tmp_path_factory.mktemp("bad_raw")


@pytest.mark.parametrize("case", list(CATALOGUE))
def test_bad_raw_input(case: str, warehouse: Path, synth_raw: Path, case_dir: Path) -> None:
    breaker, fragments, must_fail = CATALOGUE[case]
    raw, db = case_dir / "raw", case_dir / "wh.duckdb"
    shutil.rmtree(raw, ignore_errors=True)
    shutil.copytree(synth_raw, raw)
    shutil.copy(warehouse, db)
    before = _fingerprint(db)
    breaker(raw)
    # the raw files are checked by the on-run-start hook (every file) and the staging model
    # that reads the file: a bad file must stop the build there (fail-fast, before anything
    # downstream runs); an accepted one needs only that staging model
    model = STAGED_BY[fragments[0].removesuffix(".csv")]
    select = f"{model}+" if must_fail else model
    res = run_dbt_in_process(["build", "--fail-fast", "--select", select], db, {"raw_path": str(raw)})
    out = res.stdout + res.stderr
    for fragment in fragments:
        assert fragment in out, f"{case}: {fragment!r} not in:\n{out[-3000:]}"
    if must_fail:
        assert res.returncode != 0, case
        assert _fingerprint(db) == before, f"{case}: earlier tables changed"
    else:
        assert res.returncode == 0, out[-3000:]


BAD_VARS: dict[str, tuple] = {
    "cutoff that is SQL": (
        "{cutoffs: ['2023-06-01', \"2023-07-01'); drop table marts.customer_features; --\"]}",
        ["var cutoffs holds 2023-07-01'); drop table", "expected dates like 2023-06-01"],
    ),
    "cutoff that is not a calendar day": (
        "{cutoffs: ['2023-06-01', '2023-02-30']}",
        ["var cutoffs holds 2023-02-30, which is not a calendar day"],
        ["--select", "int_cutoffs_scheduled"],
    ),
    "cutoff after the data": (
        "{cutoffs: ['2023-06-01', '2099-01-01']}",
        ["var cutoffs holds 2099-01-01, after the scoring cutoff"],
        ["--select", "int_cutoffs_scheduled"],
    ),
    "contact channel not in the channels seed": (
        "{uplift_contact_channel: carrier_pigeon}",
        ["var uplift_contact_channel is 'carrier_pigeon', which is not a channel of the channels seed"],
        ["--select", "uplift_targeting"],
    ),
    "window length that is SQL": (
        "{label_window_days: '90 day); drop table marts.customer_features; --'}",
        ["var label_window_days is 90 day); drop table", "expected a whole number"],
    ),
    "vocabulary name that is SQL": (
        "{vocabulary: {counted_events: {'sends, 1); drop table marts.customer_features; --': send}, "
        "flag_events: {hard_bounces: hard_bounce}, channels: {email: email}, engagement_windows: [30], "
        "order_windows: [30]}}",
        ["var vocabulary.counted_events has sends, 1); drop table", "expected lowercase words"],
        ["--select", "int_client_engagement_accumulated"],
    ),
    "vocabulary that is not a mapping": (
        "{vocabulary: 'sends'}",
        ["var vocabulary must be a mapping, got sends"],
        ["--select", "int_client_engagement_accumulated"],
    ),
    "vocabulary without channels": (
        "{vocabulary: {counted_events: {sends: send}, flag_events: {hard_bounces: hard_bounce}, "
        "channels: {}, engagement_windows: [30], order_windows: [30]}}",
        ["var vocabulary.channels must be a non-empty mapping of name: raw value"],
        ["--select", "int_client_engagement_accumulated"],
    ),
    "vocabulary window that is not a number": (
        "{vocabulary: {counted_events: {sends: send}, flag_events: {hard_bounces: hard_bounce}, "
        "channels: {email: email}, engagement_windows: [30, .inf], order_windows: [30]}}",
        ["var vocabulary.engagement_windows has inf; expected whole days >= 1, ascending"],
        ["--select", "int_client_engagement_windowed"],
    ),
    "vocabulary windows out of order": (
        "{vocabulary: {counted_events: {sends: send}, flag_events: {hard_bounces: hard_bounce}, "
        "channels: {email: email}, engagement_windows: [90, 30], order_windows: [30]}}",
        ["var vocabulary.engagement_windows has 30; expected whole days >= 1, ascending"],
        ["--select", "int_client_engagement_windowed"],
    ),
}


@pytest.mark.parametrize("case", list(BAD_VARS))
def test_bad_var_is_refused(case: str, warehouse: Path, synth_raw: Path, case_dir: Path) -> None:
    extra, fragments, *select = BAD_VARS[case]
    db = case_dir / "wh.duckdb"
    shutil.copy(warehouse, db)
    before = _fingerprint(db)
    res = run_dbt_in_process(
        ["build", *(select[0] if select else [])], db, var_text=extra[:-1] + f", raw_path: '{synth_raw}'}}"
    )
    assert res.returncode != 0
    for fragment in fragments:
        assert fragment in res.stdout, (fragment, res.stdout[-3000:])
    assert _fingerprint(db) == before


def test_float_parquet_client_id_is_refused(tmp_path: Path) -> None:
    """A Parquet export whose ids went through a float (rounded past 2**53) is refused, not rounded."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from targeting.data.synth import SynthConfig, generate

    raw = tmp_path / "raw"
    generate(SynthConfig(scale=0.02, seed=7, out=raw, fmt="parquet"), progress=False)
    path = raw / f"{T}.parquet"
    table = pq.read_table(path)
    assert table.schema.field("client_id").type == pa.int64()
    index = table.schema.get_field_index("client_id")
    as_float = table["client_id"].cast(pa.float64(), safe=False)  # what a careless exporter does
    pq.write_table(table.set_column(index, "client_id", as_float), path)
    res = run_dbt_in_process(
        ["build", "--fail-fast"], tmp_path / "wh.duckdb", {"raw_path": str(raw), "raw_format": "parquet"}
    )
    out = res.stdout + res.stderr
    assert res.returncode != 0
    assert f"{T}.parquet" in out and "column client_id has value '1.515915625" in out, out[-3000:]
    assert "e+18' which is not a client id (whole digits)" in out, out[-3000:]


def test_great_expectations_flags_bad_raw_values(raw_copy: Path, capsys: pytest.CaptureFixture) -> None:
    _replace(M, ",send,", ",teleport,")(raw_copy)
    _replace(P, ".0,", "x,")(raw_copy)
    assert cli.main(["validate", "raw", "--raw", str(raw_copy)]) == 1
    out = capsys.readouterr().out
    assert "FAIL raw_messages_values" in out and "column event" in out and "teleport" in out, out
    assert "FAIL raw_purchases" in out and "column price" in out, out


def test_all_zero_label_is_refused(
    warehouse: Path, tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "wh.duckdb"
    shutil.copy(warehouse, db)
    with duckdb.connect(str(db)) as con:
        con.execute("update marts.customer_labels set purchased_next_90d = false")
    monkeypatch.setenv("MM_RUNS_DIR", str(tmp_path / "runs"))
    code = cli.main(
        ["fit", "--spec", str(REPO / "python" / "specs" / "purchase_90d.yml"), "--db", str(db), "--quiet"]
    )
    assert code == 2
    err = capsys.readouterr().err
    assert "label 'purchased_next_90d'" in err and "is 0 on all" in err, err
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_dbt_build_on_a_locked_warehouse_names_the_file(warehouse: Path, tmp_path: Path) -> None:
    db = tmp_path / "wh.duckdb"
    shutil.copy(warehouse, db)
    with write_lock_held(db):
        res = run_dbt(["build", "--select", "customer_features"], db)
    out = res.stdout + res.stderr
    assert res.returncode != 0
    # one line naming the file and the process holding it, not three chained tracebacks
    assert f"the warehouse {db} is open in another process by " in out, out[-2000:]
    assert "(PID " in out and "DuckDB allows one writer" in out, out[-2000:]
    assert "Traceback" not in out and len(out.splitlines()) < 20, out[-3000:]


def test_events_before_their_messages_first_send_are_quarantined_not_counted(
    warehouse: Path, synth_raw: Path, case_dir: Path
) -> None:
    """The rule, on an incremental build: opens and clicks dated a year before their message's
    first send change no feature, no cutoff and no client's first day; they are listed in
    int_message_events_quarantined and the warning test prints their count (the rule's edge
    cases, a message without a staged send and an event on its send's day, are dbt unit tests)."""
    raw, db = case_dir / "raw", case_dir / "wh.duckdb"
    shutil.rmtree(raw, ignore_errors=True)
    shutil.copytree(synth_raw, raw)
    shutil.copy(warehouse, db)
    before = _fingerprint(db)
    path = raw / f"{M}.csv"
    lines = path.read_text().rstrip("\n").split("\n")
    header = lines[0].split(",")
    event_at, date_at, created_at = header.index("event"), header.index("date"), header.index("created_at")
    picked = [line for line in lines[1:] if line.split(",")[event_at] in ("open", "click")][:40:4]
    early = []
    for line in picked:  # the same event, 400 days before its message's send
        fields = line.split(",")
        day = (pd.Timestamp(fields[date_at]) - pd.Timedelta(days=400)).strftime("%Y-%m-%d")
        fields[date_at], fields[created_at] = day, day + fields[created_at][10:]
        early.append(",".join(fields))
    path.write_text("\n".join([*lines, *early]) + "\n")
    selected = ["build", "--select", "staging.apparel+", "--exclude", "staging.ml+"]
    res = run_dbt_in_process(selected, db, {"raw_path": str(raw)})
    out = res.stdout + res.stderr
    assert res.returncode == 0, out[-3000:]
    assert "WARN" in out and "warn_message_events_before_first_send" in out, out[-3000:]
    with duckdb.connect(str(db), read_only=True) as con:
        quarantined = con.execute(
            "select event, message_id, days_before_send, reason "
            "from intermediate.int_message_events_quarantined"
        ).fetchall()
    assert len(quarantined) == len(early), quarantined
    assert {q[1] for q in quarantined} == {line.split(",")[header.index("message_id")] for line in early}
    # 400 days before the event, which came up to 40 days after its send
    assert all(360 <= q[2] <= 400 and q[3] == "before_first_send" for q in quarantined), quarantined
    # every feature, the cutoffs and the population are what they were without those rows
    features = "marts.customer_features"
    assert _fingerprint(db)[features] == before[features]


BAD_ENV: dict[str, tuple[str, str, str]] = {
    "Spark catalog": ("spark", "MM_SPARK_CATALOG", "derby"),
    "Spark adaptive flag": ("spark", "MM_SPARK_ADAPTIVE", "yes"),
    "Spark whole-stage flag": ("spark", "MM_SPARK_WHOLESTAGE_CODEGEN", "1; rm -rf /"),
    "Spark JVM options with a quote": ("spark", "MM_SPARK_JVM_OPTIONS", '-Xmx1g" -Dx=1'),
    "Spark folder ending the metastore URL": ("spark", "MM_SPARK_DIR", "data/x;create=false"),
    "Spark shuffle partitions": ("spark", "MM_SPARK_SHUFFLE_PARTITIONS", "0"),
    "Spark master": ("spark", "MM_SPARK_MASTER", "local[2] --conf x=y"),
    "DuckDB memory limit": ("dev", "MM_DUCKDB_MEMORY_LIMIT", "lots"),
}


@pytest.mark.parametrize("case", list(BAD_ENV))
def test_bad_profile_variable_is_refused_before_anything_starts(
    case: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every MM_* variable the profile reads is checked there: one line naming it and its value
    (dbt in this process: the profile is read before anything is parsed or connected)."""
    from dbt.cli.main import dbtRunner

    target, name, value = BAD_ENV[case]
    monkeypatch.setenv(name, value)
    monkeypatch.setenv("MM_DUCKDB_PATH", str(tmp_path / "wh.duckdb"))
    args = [
        "--project-dir",
        str(REPO),
        "--profiles-dir",
        str(REPO),
        "--target-path",
        str(tmp_path / "target"),
    ]
    result = dbtRunner().invoke(["parse", "--target", target, *args, "--log-level", "none"])
    message = str(result.exception)
    assert not result.success
    assert f"{name}={value} is not" in message or f"{name}={value} holds" in message, message
    assert len(message.strip().splitlines()) <= 2, message
