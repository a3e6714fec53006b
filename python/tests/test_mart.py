"""The feature mart: shape and point in time (its signal is checked in test_evaluation)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import duckdb
import pytest

from .conftest import run_dbt_in_process

pytestmark = pytest.mark.slow  # builds a warehouse with dbt or fits models


def test_dbt_build_runs_every_model_seed_data_and_unit_test(warehouse: Path) -> None:
    """`make test`'s dbt build: the shared warehouse is built by `dbt build` with every test."""
    results = json.loads((warehouse.parent / "target" / "run_results.json").read_text())["results"]
    manifest = json.loads((warehouse.parent / "target" / "manifest.json").read_text())
    ran = {r["unique_id"]: r["status"] for r in results}
    expected = [
        node
        for node, info in {**manifest["nodes"], **manifest["unit_tests"]}.items()
        if info["resource_type"] in ("model", "seed", "test", "unit_test")
    ]
    missing = [node for node in expected if node not in ran]
    failed = {n: status for n, status in ran.items() if n in expected and status not in ("success", "pass")}
    assert not missing and not failed, (missing[:10], failed)
    kinds = {
        kind: sum(n.startswith(kind + ".") for n in ran) for kind in ("model", "seed", "test", "unit_test")
    }
    assert kinds["test"] > 400 and kinds["unit_test"] >= 8 and kinds["model"] >= 40, kinds


def test_one_row_per_client_and_cutoff(warehouse: Path) -> None:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        n, keys = con.execute(
            "select count(*), count(distinct (client_id, as_of_date)) from marts.customer_features"
        ).fetchone()
        cutoffs = con.execute("select count(*) from intermediate.int_cutoffs_scheduled").fetchone()[0]
        seen = con.execute("select count(distinct as_of_date) from marts.customer_features").fetchone()[0]
        n_features = len(con.execute("describe marts.customer_features").fetchall()) - 3
        latest = con.execute(
            "select count(*) from marts.customer_features where is_scoring_cutoff"
        ).fetchone()[0]
        clients = con.execute(
            "select count(distinct client_id) from staging.stg_apparel__targets"
        ).fetchone()[0]
    assert n == keys
    assert seen == cutoffs
    assert n_features >= 40
    assert latest >= clients  # every target client (a buyer) is scored at the latest cutoff


def test_point_in_time_check_catches_a_leaky_feature(warehouse: Path, tmp_path: Path) -> None:
    db = tmp_path / "leaky.duckdb"
    shutil.copy(warehouse, db)
    with duckdb.connect(str(db)) as con:
        # simulate a feature that counted the orders of the cutoff day itself
        con.execute(
            """
            update marts.customer_features as f set orders_all = orders_all + 1
            where exists (
                select 1 from staging.stg_apparel__purchases as p
                where p.client_id = f.client_id and p.purchased_on = f.as_of_date
            ) and hash(client_id) % 10 = 0
            """
        )
    res = run_dbt_in_process(["test", "--select", "assert_customer_features_point_in_time"], db)
    assert res.returncode != 0, res.stdout[-2000:]
    assert "FAIL" in res.stdout
