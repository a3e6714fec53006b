"""`targeting publish`: BI tools read a serving file that builds and scoring never lock."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import duckdb
import pytest

from targeting.cli import main as cli
from targeting.core.sqlsafe import ident

from .conftest import private_copy, run_dbt_in_process

pytestmark = pytest.mark.slow  # a copy of the shared scored warehouse, dbt and scoring

SCORE = ["score", "--allow-failed-diagnostics", "--quiet"]


def _read_whole_versions(
    link: Path, stop: threading.Event, seen: list[str], errors: list[str], reads: list[str]
) -> None:
    """A BI tool: connect read-only, read every published table, check its rows against the
    version's own record, disconnect; again until stopped."""
    while not stop.is_set():
        try:
            with duckdb.connect(str(link), read_only=True) as con:
                published = con.execute(
                    "select version, table_name, row_count from marts._publication"
                ).fetchall()
                versions = {row[0] for row in published}
                if len(versions) != 1:
                    errors.append(f"one connection saw versions {versions}")
                for _, table, rows in published:
                    schema, name = table.split(".")
                    got = con.execute(f"select count(*) from {ident(schema)}.{ident(name)}").fetchone()[0]
                    if got != rows:
                        errors.append(f"{table}: {got} rows, its version recorded {rows}")
                if not seen or seen[-1] != published[0][0]:
                    seen.append(published[0][0])
                reads.append(published[0][0])
        except Exception as exc:  # any failure of the reader is the finding
            errors.append(repr(exc))
        stop.wait(0.02)  # a dashboard's pace, not a busy loop stealing the writers' core


def test_a_reader_queries_while_dbt_scoring_and_publish_run(
    scored_warehouse: tuple[Path, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    db = private_copy(scored_warehouse, tmp_path, monkeypatch)[0]  # a run, scored
    # a folder name holding quotes and SQL: it is written into the views as a quoted literal
    out = tmp_path / "serving 'x'); drop view marts.targeting_list; --"
    assert cli.main(["publish", "--db", str(db), "--out", str(out), "--quiet"]) == 0
    link = out / "serving.duckdb"
    assert f"BI tools connect to: {link}" in capsys.readouterr().out

    stop, seen, errors, reads = threading.Event(), [], [], []
    reader = threading.Thread(target=_read_whole_versions, args=(link, stop, seen, errors, reads))
    reader.start()
    try:
        # the warehouse is written while the reader reads: by dbt, by scoring, then published
        res = run_dbt_in_process(["build", "--select", "staging.ml+"], db)
        assert res.returncode == 0, res.stdout[-3000:]
        assert cli.main([*SCORE, "--db", str(db)]) == 0
        assert cli.main(["publish", "--db", str(db), "--out", str(out), "--quiet"]) == 0
        reads_before = len(reads)
        assert cli.main(["publish", "--db", str(db), "--out", str(out), "--quiet"]) == 0
        newest = os.readlink(link).split("/")[1]
        deadline = time.time() + 30
        while (not seen or seen[-1] != newest) and time.time() < deadline and reader.is_alive():
            time.sleep(0.05)
    finally:
        stop.set()
        reader.join()
    assert errors == []
    assert len(seen) == 3 and seen[-1] == newest, seen  # each version, whole, in order
    assert reads_before > 20, reads_before  # it read all along the build and the scoring
    with duckdb.connect(str(link), read_only=True) as con:
        scores = con.execute("select count(*) from marts.targeting_list").fetchone()[0]
    with duckdb.connect(str(db), read_only=True) as con:
        assert scores == con.execute("select count(*) from marts.targeting_list").fetchone()[0] > 0

    # older versions beyond --keep are removed; the newest stays current
    assert cli.main(["publish", "--db", str(db), "--out", str(out), "--keep", "2", "--quiet"]) == 0
    assert len(list((out / "versions").iterdir())) == 2


def test_bad_publish_input_is_refused_and_the_current_version_stays(
    private_warehouse: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = private_warehouse
    out = tmp_path / "serving"
    assert cli.main(["publish", "--db", str(db), "--out", str(out), "--quiet"]) == 0
    link = out / "serving.duckdb"
    current = os.readlink(link)

    def refused(argv: list[str], message: str) -> None:
        assert cli.main(argv) == 2
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err, err
        assert os.readlink(link) == current
        assert [p.name for p in (out / "versions").iterdir()] == [current.split("/")[1]]

    refused(["publish", "--db", str(db), "--out", str(out), "--keep", "0"], "keep must be a whole number")
    refused(["publish", "--db", str(db), "--out", str(out), "--keep", "-1"], "keep must be a whole number")
    with pytest.raises(SystemExit) as stopped:  # argparse's own refusal
        cli.main(["publish", "--db", str(db), "--out", str(out), "--keep", "nan"])
    assert stopped.value.code == 2 and "--keep: invalid int value: 'nan'" in capsys.readouterr().err
    assert os.readlink(link) == current
    refused(
        ["publish", "--db", str(tmp_path / "none.duckdb"), "--out", str(out)], "none.duckdb does not exist"
    )
    a_file = tmp_path / "serving.txt"
    a_file.write_text("keep me")
    assert cli.main(["publish", "--db", str(db), "--out", str(a_file)]) == 2
    assert "is a file; expected a folder" in capsys.readouterr().err and a_file.read_text() == "keep me"
    assert cli.main(["publish", "--db", str(db), "--out", "/proc/marketing_mart_serving"]) == 2
    assert "cannot create serving folder /proc/marketing_mart_serving" in capsys.readouterr().err
    # a warehouse without one of the marts (dropped here): named, and nothing changes
    with duckdb.connect(str(db)) as con:
        con.execute("drop table marts.segment_profiles")
    refused(["publish", "--db", str(db), "--out", str(out)], "has no table marts.segment_profiles")
