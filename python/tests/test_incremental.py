"""Incremental message staging: appending daily files gives the same warehouse as a full build."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import duckdb
import pytest

from .conftest import NO_TESTS, run_dbt_in_process

pytestmark = pytest.mark.slow  # builds a warehouse with dbt or fits models

#: Tables compared first between the incremental and the full build; then every model's
#: table (model_tables) is.
TABLES = [
    "staging.stg_apparel__messages",
    "intermediate.int_client_engagement_accumulated",
    "intermediate.int_client_campaigns_accumulated",
    "intermediate.int_client_engagement_windowed",
    "marts.customer_features",
    "marts.customer_labels",
    "marts.campaign_performance",
    "marts.channel_performance",
]

#: Bookkeeping tables beside the incremental models (removal log, state): not model output.
BOOKKEEPING_SUFFIXES = ("_removed", "_state", "_changes")


def model_tables(db: Path) -> list[str]:
    """Every staging, intermediate and mart table of ``db`` but the bookkeeping ones."""
    return sorted(
        table
        for table in _tables(db)
        if table.split(".")[0] in ("staging", "intermediate", "marts")
        and not table.endswith(BOOKKEEPING_SUFFIXES)
    )


def _split_off_days(raw: Path, pending: Path, n_days: int) -> list[Path]:
    """Move the last ``n_days`` event dates of the messages file into daily files under ``pending``."""
    src = raw / "apparel-messages.csv"
    read = "read_csv($src, all_varchar=true, header=true)"
    pending.mkdir()
    with duckdb.connect() as con:
        last = con.execute(
            f"select distinct date from {read} order by 1 desc limit $n", {"src": str(src), "n": n_days}
        ).fetchall()
        days = sorted(r[0] for r in last)
        daily = []
        for day in days:
            path = pending / f"apparel-messages-{day}.csv"
            con.execute(
                f"copy (select * from {read} where date = $day) to $out (header)",
                {"src": str(src), "day": day, "out": str(path)},
            )
            daily.append(path)
        history = raw / "history.tmp"
        con.execute(
            f"copy (select * from {read} where date < $day) to $out (header)",
            {"src": str(src), "day": days[0], "out": str(history)},
        )
    history.replace(src)
    return daily


#: Columns that say when a row was loaded or computed, not what it holds: they differ
#: between an incremental and a full build by design.
LOAD_COLUMNS = {"load_id"}


def _db(tmp_path: Path, name: str) -> Path:
    """``tmp_path/name/wh.duckdb``: every warehouse of a test has one database name, so the
    in-process dbt runs parse the project once per set of vars for all of them."""
    (tmp_path / name).mkdir()
    return tmp_path / name / "wh.duckdb"


def _differences(
    a: Path, b: Path, table: str, ignore: str | tuple[str, ...] = ""
) -> tuple[int, int, int, int]:
    """Rows of ``table`` in ``a`` and in ``b``, and the rows only in each (as multisets), but
    for the load columns and ``ignore``."""
    ignored = {ignore} if isinstance(ignore, str) else set(ignore)
    schema, name = table.split(".")
    with duckdb.connect() as con:
        con.execute("attach ? as a (read_only)", [str(a)])
        con.execute("attach ? as b (read_only)", [str(b)])
        present = {
            r[0]
            for r in con.execute(
                "select column_name from duckdb_columns() where database_name = 'a' "
                "and schema_name = ? and table_name = ?",
                [schema, name],
            ).fetchall()
        }
        skipped = sorted((LOAD_COLUMNS | ignored) & present)
        cols = f"* exclude ({', '.join(skipped)})" if skipped else "*"
        a_rows, b_rows = f"select {cols} from a.{table}", f"select {cols} from b.{table}"
        counts = con.execute(
            f"select (select count(*) from a.{table}), (select count(*) from b.{table}), "
            f"(select count(*) from ({a_rows} except all {b_rows})), "
            f"(select count(*) from ({b_rows} except all {a_rows}))"
        ).fetchone()
    n_a, n_b, only_a, only_b = counts
    return n_a, n_b, only_a, only_b


def _add_sends_of_ordered_messages(raw: Path, daily_file: Path) -> set[str]:
    """Append to ``daily_file`` sends of three messages that orders name, on its day.

    One message had no send staged (its orders were message_not_sent), one gets a send
    stamped before its first one (the first send changes), one a later send (it does not).
    Returns the three message ids.
    """
    read = "read_csv($src, all_varchar=true, header=true)"
    with duckdb.connect() as con:
        params = {"src": str(raw / "apparel-messages.csv"), "buys": str(raw / "apparel-purchases.csv")}
        day = con.execute(f"select max(date) from {read}", {"src": str(daily_file)}).fetchone()[0]
        ordered = (
            "(select distinct message_id from read_csv($buys, all_varchar=true) "
            "where message_id like '%-%-%')"
        )
        unsent = con.execute(
            f"select message_id from {ordered} where message_id not in "
            f"(select message_id from {read} where event = 'send') order by 1 limit 1",
            params,
        ).fetchone()[0]
        sent = con.execute(
            f"select bulk_campaign_id, client_id, message_id, channel, min(created_at) from {read} "
            f"where event = 'send' and message_id in {ordered} group by all order by 3 limit 2",
            params,
        ).fetchall()
    client, campaign = unsent.split("-")[:2]
    (c1, k1, m1, ch1, first1), (c2, k2, m2, ch2, _) = sent
    earlier = f"{int(first1[:4]) - 1}{first1[4:]}"  # a year before its first send
    rows = [
        f"{campaign},{client},{unsent},send,email,{day},{day} 12:00:00",
        f"{c1},{k1},{m1},send,{ch1},{day},{earlier}",
        f"{c2},{k2},{m2},send,{ch2},{day},{day} 12:00:01",
    ]
    with daily_file.open("a") as out:
        out.write("\n".join(rows) + "\n")
    return {unsent, m1, m2}


def test_daily_files_append_and_match_a_full_build(raw_copy: Path, tmp_path: Path) -> None:
    """Daily files appended one by one give a full build's tables; a file that changes or
    disappears is re-read or removed. The raw folder and the daily files have crafted names
    (quotes, SQL, glob characters): they are read as paths, nothing more. The folder
    ``rg[1]*?...`` is that folder, never the empty decoy ``rg1x...`` that its name matches
    as a pattern (read as a pattern, the build would find no raw file)."""
    folder = tmp_path / "rg[1]*?'); drop table marts.customer_features; --"
    shutil.move(raw_copy, folder)
    raw_copy = folder
    (tmp_path / "rg1x'); drop table marts.customer_features; --").mkdir()  # the decoy
    pending = _split_off_days(raw_copy, tmp_path / "pending", n_days=2)
    crafted = [
        "apparel-messages-x'); drop table marts.customer_features; create table main.pwned as (select 1); --"
        ".csv",
        "apparel-messages-y' or '1'='1.csv",
    ]
    daily = [path.rename(path.with_name(name)) for path, name in zip(pending, crafted, strict=True)]
    revisited_messages = _add_sends_of_ordered_messages(raw_copy, daily[0])
    vars_ = {"raw_path": str(raw_copy).replace("'", "''")}  # the yaml var itself is quoted

    incremental = _db(tmp_path, "incremental")
    res = run_dbt_in_process(["build", "--exclude", *NO_TESTS], incremental, vars_)
    assert res.returncode == 0, res.stdout[-3000:]
    with duckdb.connect(str(incremental), read_only=True) as con:
        history_rows = con.execute("select count(*) from staging.stg_apparel__messages").fetchone()[0]
    for path, how in zip(daily, (["run"], ["run", "--selector", "daily_messages"]), strict=True):
        # one daily file arrives, then the next (the second run selects only what depends on it)
        shutil.move(path, raw_copy / path.name)
        res = run_dbt_in_process(how, incremental, vars_)
        assert res.returncode == 0, res.stdout[-3000:]
        assert "incremental model staging.stg_apparel__messages" in res.stdout, res.stdout[-3000:]
        if path == daily[0]:
            # no deleted rows before it (a full build): the run leaves the ones it makes
            assert "compacting deleted rows" not in res.stdout, res.stdout[-3000:]
        # the running totals recomputed are exactly the new day's rows of the clients it
        # touched: one row per (client, day) of the file, every other row left as stored
        with duckdb.connect(str(incremental), read_only=True) as con:
            new_days = con.execute(
                "select count(*) from (select distinct client_id, event_date "
                "from staging.stg_apparel__messages where parse_filename(source_file) = ?)",
                [path.name],
            ).fetchone()[0]
            recomputed, kept = con.execute(
                "select count(*) filter (where load_id = (select max(load_id) from {t})), "
                "count(*) filter (where load_id < (select max(load_id) from {t})) from {t}".format(
                    t="intermediate.int_client_engagement_accumulated"
                )
            ).fetchone()
        assert recomputed == new_days > 0 and kept > 10 * recomputed, (recomputed, new_days, kept)
        if path == daily[0]:
            # the attribution revisits exactly the orders of the messages given new sends
            with duckdb.connect(str(incremental), read_only=True) as con:
                revisited = {
                    r[0]
                    for r in con.execute(
                        "select distinct message_id from intermediate.int_orders_attributed "
                        "where load_id = (select max(load_id) from intermediate.int_orders_attributed)"
                    ).fetchall()
                }
            assert revisited == revisited_messages, (revisited, revisited_messages)
    with duckdb.connect(str(incremental), read_only=True) as con:
        per_file = dict(
            con.execute(
                "select parse_filename(source_file), count(*) from staging.stg_apparel__messages group by 1"
            ).fetchall()
        )
    assert per_file["apparel-messages.csv"] == history_rows
    assert all(per_file[p.name] > 0 for p in daily)
    assert not any(t.endswith(".pwned") for t in _tables(incremental))

    full = _db(tmp_path, "full")
    res = run_dbt_in_process(["build", "--exclude", *NO_TESTS], full, vars_)
    assert res.returncode == 0, res.stdout[-3000:]
    tables = model_tables(full)
    assert set(TABLES) < set(tables) and "marts.campaign_economics" in tables
    assert set(model_tables(incremental)) == set(tables)
    for table in tables:
        n_a, n_b, only_a, only_b = _differences(incremental, full, table)
        assert n_a == n_b and only_a == only_b == 0, (table, n_a, n_b, only_a, only_b)
        # the quarantine of events before their message's first send is empty on clean data
        empty_ok = table == "intermediate.int_message_events_quarantined"
        assert n_a > 0 or empty_ok or table.startswith("marts.") and _empty_without_ml(table), table

    # the rows the daily runs replaced wait, deleted, for a run that compacts them: one
    # starts when some incremental table holds more than compact_dead_row_share of them
    table, share = _most_deleted(incremental)
    assert share > 0.001, "the daily runs left deleted rows"
    res = run_dbt_in_process(
        ["run", "--select", "int_cutoffs_scheduled"],
        incremental,
        {**vars_, "compact_dead_row_share": f"{share - 0.001:.6f}"},
    )
    assert res.returncode == 0, res.stdout[-3000:]
    assert f"compacting deleted rows this run: {table} holds" in res.stdout, (share, res.stdout[-3000:])

    # a changed file is re-read: a bad value written into the loaded history fails the next
    # incremental build with the usual message, and every table stays as it was
    history = raw_copy / "apparel-messages.csv"
    original = history.read_text()
    lines = original.splitlines()
    row = next(i for i, line in enumerate(lines) if ",send," in line)
    lines[row] = lines[row].replace(",send,", ",teleport,", 1)
    history.write_text("\n".join(lines) + "\n")
    res = run_dbt_in_process(["run"], incremental, vars_)
    assert res.returncode != 0 and "column event has value 'teleport'" in res.stdout, res.stdout[-3000:]
    for table in TABLES:
        assert _differences(incremental, full, table)[2:] == (0, 0), table

    # a corrected file is re-read and replaces its rows: back to the full build's tables
    # (but for the file's new modification time)
    history.write_text(original)
    res = run_dbt_in_process(["run"], incremental, vars_)
    assert res.returncode == 0, res.stdout[-3000:]
    for table in TABLES:
        ignore = "source_fingerprint" if table == TABLES[0] else ""
        assert _differences(incremental, full, table, ignore)[2:] == (0, 0), table

    # a loaded file that disappears takes its rows with it; in the same run the purchases
    # lose their last order day (every table built from purchases is recomputed in full)
    with duckdb.connect(str(incremental), read_only=True) as con:
        before = con.execute("select count(*) from staging.stg_apparel__messages").fetchone()[0]
    gone = raw_copy / daily[-1].name
    gone.rename(tmp_path / "elsewhere.csv")
    purchases = raw_copy / "apparel-purchases.csv"
    header, *rows = purchases.read_text().splitlines()
    last_day = max(r.rsplit(",", 2)[1] for r in rows)  # date is the second last column
    kept = [r for r in rows if r.rsplit(",", 2)[1] != last_day]
    assert 0 < len(kept) < len(rows)
    purchases.write_text("\n".join([header, *kept]) + "\n")
    res = run_dbt_in_process(["run"], incremental, vars_)
    assert res.returncode == 0, res.stdout[-3000:]
    with duckdb.connect(str(incremental), read_only=True) as con:
        files = dict(
            con.execute(
                "select parse_filename(source_file), count(*) from staging.stg_apparel__messages group by 1"
            ).fetchall()
        )
    assert gone.name not in files and sum(files.values()) == before - per_file[gone.name]
    # and every table downstream equals a full build of the files left (the removed rows'
    # clients were recomputed from the removal log)
    full_after = _db(tmp_path, "full_after")
    res = run_dbt_in_process(["build", "--exclude", *NO_TESTS], full_after, vars_)
    assert res.returncode == 0, res.stdout[-3000:]
    for table in model_tables(full_after):
        ignore = "source_fingerprint" if table == TABLES[0] else ""
        n_a, n_b, only_a, only_b = _differences(incremental, full_after, table, ignore)
        assert n_a == n_b and only_a == only_b == 0, (table, n_a, n_b, only_a, only_b)


def _most_deleted(db: Path) -> tuple[str, float]:
    """The table of ``db`` holding the largest share of deleted, not yet compacted rows."""
    with duckdb.connect(str(db), read_only=True) as con:
        stored = con.execute(
            "select schema_name, table_name, estimated_size from duckdb_tables() "
            "where estimated_size > 0 and schema_name in ('staging', 'intermediate', 'marts')"
        ).fetchall()
        shares = [
            (1 - con.execute(f'select count(*) from "{schema}"."{name}"').fetchone()[0] / n, name)
            for schema, name, n in stored
        ]
    share, name = max(shares)
    return name, share


def _empty_without_ml(table: str) -> bool:
    """Marts built from the ml tables, empty until the Python layer has written to them."""
    return table in {
        "marts.ab_test_results",
        "marts.campaign_lift",
        "marts.customer_value",
        "marts.experiment_decisions",
        "marts.model_monitoring",
        "marts.segment_profiles",
        "marts.targeting_list",
        "marts.uplift_targeting",
    }


def _tables(db: Path) -> set[str]:
    with duckdb.connect(str(db), read_only=True) as con:
        return {
            f"{s}.{t}"
            for s, t in con.execute("select schema_name, table_name from duckdb_tables()").fetchall()
        }


def _staged_per_file(db: Path) -> dict[str, int]:
    with duckdb.connect(str(db), read_only=True) as con:
        return dict(
            con.execute(
                "select parse_filename(source_file), count(*) from staging.stg_apparel__messages group by 1"
            ).fetchall()
        )


def test_overlapping_daily_files_count_once_and_in_place_edits_are_seen(
    raw_copy: Path, warehouse: Path, tmp_path: Path
) -> None:
    (daily,) = _split_off_days(raw_copy, tmp_path / "pending", n_days=1)
    vars_ = {"raw_path": str(raw_copy)}
    db = _db(tmp_path, "incremental")
    assert run_dbt_in_process(["seed"], db, vars_).returncode == 0
    shutil.move(daily, raw_copy / daily.name)
    assert run_dbt_in_process(["run"], db, vars_).returncode == 0
    once = _staged_per_file(db)

    # the same events again in a second daily file: staged once, features unchanged
    copy = raw_copy / "apparel-messages-resent.csv"
    shutil.copy(raw_copy / daily.name, copy)
    res = run_dbt_in_process(["run"], db, vars_)
    assert res.returncode == 0, res.stdout[-3000:]
    assert _staged_per_file(db).get(copy.name, 0) == 0
    assert sum(_staged_per_file(db).values()) == sum(once.values())
    # the same rows as the shared warehouse, a full build of the same events in one file
    # (the staging table's rows of the daily file name it, and its fingerprint, as they should)
    for table in TABLES:
        ignore = ("source_file", "source_fingerprint") if table == TABLES[0] else ""
        n_a, n_b, only_a, only_b = _differences(db, warehouse, table, ignore)
        assert n_a == n_b > 0 and only_a == only_b == 0, (table, n_a, n_b, only_a, only_b)
    copy.unlink()
    assert run_dbt_in_process(["run"], db, vars_).returncode == 0

    # an edit in place with the size and modification time restored is still re-read
    path = raw_copy / daily.name
    stat = path.stat()
    text = path.read_text()
    assert ",open," in text
    path.write_text(text.replace(",open,", ",send,", 1))
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert path.stat().st_size == stat.st_size and path.stat().st_mtime_ns == stat.st_mtime_ns
    with duckdb.connect(str(db), read_only=True) as con:
        sends = "select count(*) from staging.stg_apparel__messages where event = 'send'"
        before = con.execute(sends).fetchone()[0]
    res = run_dbt_in_process(["run"], db, vars_)
    assert res.returncode == 0, res.stdout[-3000:]
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute(sends).fetchone()[0] == before + 1
