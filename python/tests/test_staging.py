"""dbt stages the real samples as they are, and bad raw files fail with clear messages."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from .conftest import run_dbt_in_process

pytestmark = pytest.mark.slow  # builds a warehouse with dbt or fits models


def _count(db: Path, table: str) -> int:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(f"select count(*) from {table}").fetchone()[0]


def test_real_samples_build_without_error(samples: Path, tmp_path: Path) -> None:
    db = tmp_path / "wh.duckdb"
    # every model and data test on the real rows; the unit tests read no raw file (their
    # inputs are in the YAML), so they run once, on the shared build
    build = ["build", "--exclude", "resource_type:unit_test"]
    res = run_dbt_in_process(build, db, {"raw_path": str(samples), "raw_suffix": "_sample"})
    assert res.returncode == 0, res.stdout[-3000:]
    assert _count(db, "staging.stg_apparel__purchases") == 50
    assert _count(db, "staging.stg_apparel__targets") == 50
    with duckdb.connect(str(db), read_only=True) as con:
        raw_distinct = con.execute(
            "select count(*) from (select distinct * from read_csv(?))",
            [str(samples / "apparel-messages_sample.csv")],
        ).fetchone()[0]
        assert con.execute("select count(*) from staging.stg_apparel__messages").fetchone()[0] == raw_distinct
        row = con.execute(
            "select category_ids, root_category_id, leaf_category_id, gender_marker "
            "from staging.stg_apparel__purchases where client_id = 1515915625468169594 limit 1"
        ).fetchone()
        assert row == ([4, 28, 57, 431], 28, 431, "women")
        # every non-zero counter of the wide daily sample survives the unpivot
        wide_total = con.execute(
            "select sum(columns('^count_')) from read_csv(?)",
            [str(samples / "full_campaign_daily_event_channel_sample.csv")],
        ).fetchone()
        long_total = con.execute(
            "select sum(event_count) from staging.stg_apparel__campaign_channel_daily_events"
        ).fetchone()[0]
        assert long_total == sum(wide_total)


def test_full_real_target_file_stages(samples: Path, tmp_path: Path) -> None:
    db = tmp_path / "wh.duckdb"
    res = run_dbt_in_process(
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
