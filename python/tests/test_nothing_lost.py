"""Nothing lost: a write killed mid-transaction leaves the previous run complete; BI readers
get a read-only connection or Parquet exports that are readable while a writer holds the file."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from targeting.cli import main as cli
from targeting.data.export import export_marts

from .conftest import REPO, add_run, private_copy, run_dbt_in_process, write_lock_held

pytestmark = pytest.mark.slow  # builds a warehouse with dbt or fits models

# the mechanics tests fit with reduced samplers, which may fail the diagnostics: they score and
# evaluate with the override (the gate itself is tested in test_plain_table and test_uplift)
SCORE = ["score", "--allow-failed-diagnostics"]


@pytest.fixture
def scored(scored_warehouse: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private copy of the run's scored warehouse (one plain-spec run, scored) and its runs."""
    return private_copy(scored_warehouse, tmp_path, monkeypatch)[0]


def _state(db: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    with duckdb.connect(str(db), read_only=True) as con:
        scores = con.execute("select * from ml.customer_scores order by run_id, client_id").df()
        runs = con.execute("select run_id, n_scored from ml.model_runs order by run_id").df()
    return scores, runs


def _score_and_kill(db: Path, run: str) -> None:
    env = dict(os.environ, MM_FAULT_PAUSE_BEFORE_COMMIT="120")
    proc = subprocess.Popen(
        [sys.executable, "-m", "targeting.cli.main", *SCORE, "--run", run, "--db", str(db), "--quiet"],
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=REPO,
    )
    try:
        for line in proc.stderr:
            if "paused before commit" in line:
                break
        else:
            pytest.fail(f"score ended before reaching its commit (exit {proc.wait()})")
        proc.send_signal(signal.SIGKILL)  # no cleanup, no rollback: as if the machine died
    finally:
        proc.wait()


def test_killed_score_leaves_the_previous_run_complete(
    scored: Path, hierarchical_run: Path, tmp_path: Path
) -> None:
    before_scores, before_runs = _state(scored)
    assert len(before_scores) > 0 and len(before_runs) == 1
    # a second run (the hierarchical spec, fitted), killed after inserting its rows but before committing
    new_run = add_run(hierarchical_run, tmp_path / "runs")
    _score_and_kill(scored, new_run)
    after_scores, after_runs = _state(scored)
    pd.testing.assert_frame_equal(after_scores, before_scores)
    pd.testing.assert_frame_equal(after_runs, before_runs)
    # re-scoring the same run replaces its rows in one transaction: killed, the old rows stay
    _score_and_kill(scored, before_runs.loc[0, "run_id"])
    pd.testing.assert_frame_equal(_state(scored)[0], before_scores)
    # and a clean rerun with the same inputs writes the same scores
    assert cli.main([*SCORE, "--run", before_runs.loc[0, "run_id"], "--db", str(scored), "--quiet"]) == 0
    pd.testing.assert_frame_equal(_state(scored)[0], before_scores)


def test_bi_reads_targeting_list_read_only_and_parquet_while_a_writer_holds_the_file(
    scored: Path, tmp_path: Path
) -> None:
    res = run_dbt_in_process(["build", "--select", "staging.ml+"], scored)
    assert res.returncode == 0, res.stdout[-3000:]
    reader = subprocess.run(
        [
            sys.executable,
            "-c",
            "import duckdb, sys; c = duckdb.connect(sys.argv[1], read_only=True); "
            "print(c.execute('select count(*) from marts.targeting_list').fetchone()[0])",
            str(scored),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert reader.returncode == 0, reader.stderr
    n = int(reader.stdout.strip())
    assert n > 0
    written = export_marts(scored, tmp_path / "exports")
    assert written[str(tmp_path / "exports" / "targeting_list.parquet")] == n
    with write_lock_held(scored):
        # the warehouse is locked for readers now, the export is not
        with pytest.raises(duckdb.IOException):
            duckdb.connect(str(scored), read_only=True)
        rows = duckdb.execute(
            "select count(*) from read_parquet(?)", [str(tmp_path / "exports" / "targeting_list.parquet")]
        ).fetchall()
        assert rows[0][0] == n
    assert not list((tmp_path / "exports").glob(".*.tmp"))  # atomic replace left no temp files
