"""dbt stages the real samples as they are, and bad raw files fail with clear messages."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from targeting import layout

from .conftest import run_dbt

STAGING = (
    "+stg_apparel__purchases +stg_apparel__messages +stg_apparel__targets "
    "+stg_apparel__campaign_daily_events +stg_apparel__campaign_channel_daily_events"
)


def _count(db: Path, table: str) -> int:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(f"select count(*) from {table}").fetchone()[0]


def test_real_samples_build_without_error(samples: Path, tmp_path: Path) -> None:
    db = tmp_path / "wh.duckdb"
    res = run_dbt(["build"], db, {"raw_path": str(samples), "raw_suffix": "_sample"})
    assert res.returncode == 0, res.stdout[-3000:]
    assert _count(db, "staging.stg_apparel__purchases") == 50
    assert _count(db, "staging.stg_apparel__targets") == 50
    with duckdb.connect(str(db), read_only=True) as con:
        raw_distinct = con.execute(
            f"select count(*) from (select distinct * from read_csv('{samples}/apparel-messages_sample.csv'))"
        ).fetchone()[0]
        assert con.execute("select count(*) from staging.stg_apparel__messages").fetchone()[0] == raw_distinct
        row = con.execute(
            "select category_ids, root_category_id, leaf_category_id, gender_marker "
            "from staging.stg_apparel__purchases where client_id = 1515915625468169594 limit 1"
        ).fetchone()
        assert row == ([4, 28, 57, 431], 28, 431, "women")
        # every non-zero counter of the wide daily sample survives the unpivot
        wide_total = con.execute(
            "select sum(columns('^count_')) from "
            f"read_csv('{samples}/full_campaign_daily_event_channel_sample.csv')"
        ).fetchone()
        long_total = con.execute(
            "select sum(event_count) from staging.stg_apparel__campaign_channel_daily_events"
        ).fetchone()[0]
        assert long_total == sum(wide_total)


def test_full_real_target_file_stages(samples: Path, tmp_path: Path) -> None:
    db = tmp_path / "wh.duckdb"
    res = run_dbt(
        ["build", "--select", "+stg_apparel__targets"],
        db,
        {
            "raw_path": str(samples),
            "raw_suffix": "_sample",
            "raw_targets_identifier": "apparel-target_binary",
        },
    )
    assert res.returncode == 0, res.stdout[-3000:]
    with duckdb.connect(str(db), read_only=True) as con:
        n, positives = con.execute(
            "select count(*), sum(target) from staging.stg_apparel__targets"
        ).fetchone()
    assert (n, positives) == (49_849, 961)


def _replace_in(path: Path, old: str, new: str, count: int = 1) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, count))


def _second_line(path: Path) -> str:
    return path.read_text().split("\n")[1]


BAD_INPUTS = {
    "missing file": (
        lambda raw: (raw / f"{layout.PURCHASES}.csv").unlink(),
        ["apparel-purchases.csv"],
    ),
    "missing column": (
        lambda raw: _replace_in(raw / f"{layout.MESSAGES}.csv", ",channel,", ",chanel,"),
        ["apparel-messages.csv", "missing column(s) channel", "chanel"],
    ),
    "unparsable date": (
        lambda raw: _replace_in(raw / f"{layout.PURCHASES}.csv", ",2022-05-", ",2022/05-"),
        ["apparel-purchases.csv", "column date", "2022/05-"],
    ),
    "non-numeric price": (
        lambda raw: _replace_in(raw / f"{layout.PURCHASES}.csv", ".0,", "x,"),
        ["apparel-purchases.csv", "column price", "x'", "not a number"],
    ),
    "unknown event": (
        lambda raw: _replace_in(raw / f"{layout.MESSAGES}.csv", ",send,", ",teleport,"),
        ["apparel-messages.csv", "column event", "'teleport'", "event_taxonomy"],
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_raw_input_fails_naming_file_column_value(case: str, raw_copy: Path, tmp_path: Path) -> None:
    breaker, expected = BAD_INPUTS[case]
    breaker(raw_copy)
    res = run_dbt(
        ["build", "--select", *STAGING.split()], tmp_path / "wh.duckdb", {"raw_path": str(raw_copy)}
    )
    assert res.returncode != 0
    for fragment in expected:
        assert fragment in res.stdout, f"{case}: {fragment!r} not in:\n{res.stdout[-3000:]}"
