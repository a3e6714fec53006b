"""Incremental message staging: appending daily files gives the same warehouse as a full build."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb

from .conftest import run_dbt

#: Tables compared between the incremental and the full build.
TABLES = [
    "staging.stg_apparel__messages",
    "intermediate.int_client_engagement_accumulated",
    "intermediate.int_client_engagement_windowed",
    "marts.customer_features",
    "marts.customer_labels",
    "marts.campaign_performance",
    "marts.channel_performance",
]


def _split_off_days(raw: Path, pending: Path, n_days: int) -> list[Path]:
    """Move the last ``n_days`` event dates of the messages file into daily files under ``pending``."""
    src = raw / "apparel-messages.csv"
    read = f"read_csv('{src}', all_varchar=true, header=true)"
    pending.mkdir()
    with duckdb.connect() as con:
        last = con.execute(f"select distinct date from {read} order by 1 desc limit {n_days}").fetchall()
        days = sorted(r[0] for r in last)
        daily = []
        for day in days:
            path = pending / f"apparel-messages-{day}.csv"
            con.execute(f"copy (select * from {read} where date = '{day}') to '{path}' (header)")
            daily.append(path)
        history = raw / "history.tmp"
        con.execute(f"copy (select * from {read} where date < '{days[0]}') to '{history}' (header)")
    history.replace(src)
    return daily


def _differences(a: Path, b: Path, table: str, ignore: str = "") -> tuple[int, int, int, int]:
    cols = f"* exclude ({ignore})" if ignore else "*"
    with duckdb.connect() as con:
        con.execute(f"attach '{a}' as a (read_only)")
        con.execute(f"attach '{b}' as b (read_only)")
        n_a = con.execute(f"select count(*) from a.{table}").fetchone()[0]
        n_b = con.execute(f"select count(*) from b.{table}").fetchone()[0]
        a_rows, b_rows = f"select {cols} from a.{table}", f"select {cols} from b.{table}"
        only_a = con.execute(f"select count(*) from ({a_rows} except all {b_rows})").fetchone()[0]
        only_b = con.execute(f"select count(*) from ({b_rows} except all {a_rows})").fetchone()[0]
    return n_a, n_b, only_a, only_b


def test_daily_files_append_and_match_a_full_build(raw_copy: Path, tmp_path: Path) -> None:
    daily = _split_off_days(raw_copy, tmp_path / "pending", n_days=2)
    vars_ = {"raw_path": str(raw_copy)}

    incremental = tmp_path / "incremental.duckdb"
    assert run_dbt(["seed"], incremental, vars_).returncode == 0
    res = run_dbt(["run"], incremental, vars_)
    assert res.returncode == 0, res.stdout[-3000:]
    with duckdb.connect(str(incremental), read_only=True) as con:
        history_rows = con.execute("select count(*) from staging.stg_apparel__messages").fetchone()[0]
    for path in daily:  # one daily file arrives, then the next
        shutil.move(path, raw_copy / path.name)
        res = run_dbt(["run"], incremental, vars_)
        assert res.returncode == 0, res.stdout[-3000:]
        assert "incremental model staging.stg_apparel__messages" in res.stdout, res.stdout[-3000:]
    with duckdb.connect(str(incremental), read_only=True) as con:
        per_file = dict(
            con.execute(
                "select parse_filename(source_file), count(*) from staging.stg_apparel__messages group by 1"
            ).fetchall()
        )
    assert per_file["apparel-messages.csv"] == history_rows
    assert all(per_file[p.name] > 0 for p in daily)

    full = tmp_path / "full.duckdb"
    assert run_dbt(["seed"], full, vars_).returncode == 0
    res = run_dbt(["run"], full, vars_)
    assert res.returncode == 0, res.stdout[-3000:]
    for table in TABLES:
        n_a, n_b, only_a, only_b = _differences(incremental, full, table)
        assert n_a == n_b > 0 and only_a == only_b == 0, (table, n_a, n_b, only_a, only_b)

    # a changed file is re-read: a bad value written into the loaded history fails the next
    # incremental build with the usual message, and every table stays as it was
    history = raw_copy / "apparel-messages.csv"
    original = history.read_text()
    lines = original.splitlines()
    row = next(i for i, line in enumerate(lines) if ",send," in line)
    lines[row] = lines[row].replace(",send,", ",teleport,", 1)
    history.write_text("\n".join(lines) + "\n")
    res = run_dbt(["run"], incremental, vars_)
    assert res.returncode != 0 and "column event has value 'teleport'" in res.stdout, res.stdout[-3000:]
    for table in TABLES:
        assert _differences(incremental, full, table)[2:] == (0, 0), table

    # a corrected file is re-read and replaces its rows: back to the full build's tables
    # (but for the file's new modification time)
    history.write_text(original)
    res = run_dbt(["run"], incremental, vars_)
    assert res.returncode == 0, res.stdout[-3000:]
    for table in TABLES:
        ignore = "source_fingerprint" if table == TABLES[0] else ""
        assert _differences(incremental, full, table, ignore)[2:] == (0, 0), table

    # a loaded file that disappears takes its rows with it
    with duckdb.connect(str(incremental), read_only=True) as con:
        before = con.execute("select count(*) from staging.stg_apparel__messages").fetchone()[0]
    gone = raw_copy / daily[-1].name
    gone.rename(tmp_path / "elsewhere.csv")
    res = run_dbt(["run"], incremental, vars_)
    assert res.returncode == 0, res.stdout[-3000:]
    with duckdb.connect(str(incremental), read_only=True) as con:
        files = dict(
            con.execute(
                "select parse_filename(source_file), count(*) from staging.stg_apparel__messages group by 1"
            ).fetchall()
        )
    assert gone.name not in files and sum(files.values()) == before - per_file[gone.name]
