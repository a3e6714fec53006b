"""dbt's semantic layer: each metric `mf query` answers equals the same figure computed from
its mart in SQL, on a warehouse whose ml marts the Python layer has filled."""

from __future__ import annotations

import csv
import json
import math
import shutil
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
import yaml

from targeting.cli import main as cli

from .conftest import NO_TESTS, REPO, close_dbt_connections, run_dbt_in_process

pytestmark = pytest.mark.slow  # a copy of the shared warehouse, fits, dbt and MetricFlow

TOL = 1e-9

# the metrics each test queries: together, every metric of models/semantic/_metrics.yml
ECONOMICS = ["sends", "conversions", "revenue", "send_cost", "profit"]
ECONOMICS_RATIOS = ["conversion_rate", "cost_per_conversion", "roas"]
HOLDOUT = ["holdout_lift", "holdout_treated_conversion_rate", "holdout_control_conversion_rate"] + [
    f"holdout_{arm}_{what}_count" for arm in ("treated", "control") for what in ("conversions", "clients")
]
UPLIFT = ["uplift_incremental_profit", "uplift_contacts"]
TARGETING = ["targeting_precision", "targeting_labelled", "targeting_clients", "targeting_buyers"]
SEGMENTS = ["segment_share", "segment_size"]
VALUE = ["customer_value_total", "customer_value_mean", "valued_client_count"]


@pytest.fixture(scope="module")
def semantic(
    warehouse: Path,
    scored_warehouse: tuple[Path, Path],
    synth_raw: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[dict[str, Path]]:
    """A copy of the run's scored warehouse with every other ml mart filled (an uplift run, a
    CLV run) and rebuilt, in a project root for `mf`: MetricFlow reads
    ``<project>/target/semantic_manifest.json``, so the root links the repository's project
    files and keeps its own ``target`` (nothing is written into the repository)."""
    root = tmp_path_factory.mktemp("semantic")
    db = root / "wh" / "wh.duckdb"
    db.parent.mkdir()
    shutil.copy(scored_warehouse[0], db)
    shutil.copytree(scored_warehouse[1], root / "runs")
    mp = pytest.MonkeyPatch()
    mp.setenv("MM_RUNS_DIR", str(root / "runs"))
    mp.setenv("MM_REPORTS_DIR", str(root / "reports"))
    mp.setenv("MM_DBT_MANIFEST", str(warehouse.parent / "target" / "manifest.json"))
    try:
        spec = REPO / "python" / "specs"
        uplift = yaml.safe_load((spec / "holdout_uplift.yml").read_text())
        uplift.update(models=["interaction"], bootstrap=20)
        uplift["sampler"].update(draws=40, tune=40, chains=1, backend="jax")
        (root / "uplift.yml").write_text(yaml.safe_dump(uplift))
        argv = ["uplift", "--spec", str(root / "uplift.yml"), "--db", str(db), "--quiet"]
        assert cli.main([*argv, "--allow-failed-diagnostics"]) == 0
        clv = yaml.safe_load((spec / "clv.yml").read_text())
        clv.update(method="map")
        (root / "clv.yml").write_text(yaml.safe_dump(clv))
        argv = ["clv", "--spec", str(root / "clv.yml"), "--db", str(db), "--quiet", "--no-evaluation"]
        assert cli.main(argv) == 0
        # the folder of the warehouse is the project root for mf: the repository's project
        # files, and the semantic manifest this build writes (its tables named in this file)
        project = _link_project(db.parent)
        select = ["--select", "staging.ml+", "metricflow_time_spine", "--exclude", *NO_TESTS]
        res = run_dbt_in_process(["build", *select], db, {"raw_path": str(synth_raw)}, write_json=True)
        assert res.returncode == 0, res.stdout[-3000:]
        assert (project / "target" / "semantic_manifest.json").exists()
        yield {"db": db, "project": project}
    finally:
        mp.undo()


def _link_project(folder: Path) -> Path:
    """``folder`` as a dbt project root for mf: links to the repository's project files (its
    ``target`` stays its own)."""
    for name in ("dbt_project.yml", "models", "macros", "seeds", "tests"):
        (folder / name).symlink_to(REPO / name)
    return folder


def _mf_run(semantic: dict[str, Path], *args: str, project: Path | None = None, code: int = 0) -> str:
    """``mf ARGS`` as a user runs it on the project root (MetricFlow's own command, in this
    process: its imports are paid once); its output. Fails the test unless it exits ``code``."""
    from click.testing import CliRunner
    from dbt_metricflow.cli.main import cli as mf

    env = {
        "DBT_PROJECT_DIR": str(project or semantic["project"]),
        "DBT_PROFILES_DIR": str(REPO),
        "MM_DUCKDB_PATH": str(semantic["db"]),
        "DO_NOT_TRACK": "1",
    }
    try:
        res = CliRunner().invoke(mf, list(args), env=env, catch_exceptions=False)
    finally:
        close_dbt_connections()  # MetricFlow's dbt adapter keeps its DuckDB connection
    assert res.exit_code == code, res.output[-3000:]
    return res.output


def _mf(semantic: dict[str, Path], *args: str) -> list[dict[str, str]]:
    """`mf query ARGS --csv FILE`: the rows it wrote."""
    out = semantic["project"] / "answer.csv"
    out.unlink(missing_ok=True)
    _mf_run(semantic, "query", *args, "--csv", str(out))
    with out.open() as f:
        return list(csv.DictReader(f))


def test_mf_validate_configs_passes_against_the_warehouse(semantic: dict[str, Path], tmp_path: Path) -> None:
    """The semantic manifest's own checks and MetricFlow's queries of every semantic model,
    dimension, entity, measure and metric against the tables pass (exit 0); a measure over a
    column the table lacks fails them (exit 1)."""
    _mf_run(semantic, "validate-configs")
    _link_project(tmp_path)
    (tmp_path / "target").mkdir()
    manifest = json.loads((semantic["project"] / "target" / "semantic_manifest.json").read_text())
    (model,) = [m for m in manifest["semantic_models"] if m["name"] == "campaign_economics"]
    (measure,) = [m for m in model["measures"] if m["name"] == "profit"]
    measure["expr"] = "profit_after_tax"
    (tmp_path / "target" / "semantic_manifest.json").write_text(json.dumps(manifest))
    out = _mf_run(semantic, "validate-configs", project=tmp_path, code=1)
    assert "Unable to query metric `profit`" in out and '"profit_after_tax" not found' in out, out[-3000:]


def _sql(semantic: dict[str, Path], query: str) -> list[tuple]:
    with duckdb.connect(str(semantic["db"]), read_only=True) as con:
        return con.execute(query).fetchall()


def _same(a: str | None, b: object) -> bool:
    if b is None:
        return a in (None, "")
    if a in (None, ""):
        return False
    return math.isclose(float(a), float(b), rel_tol=TOL, abs_tol=TOL)


def _compare(
    answer: list[dict[str, str]], expected: list[tuple], keys: list[str], metrics: list[str]
) -> None:
    """``answer`` (mf's rows) holds exactly ``expected``'s groups (key columns first, then one
    value per metric), each metric equal to ``TOL``."""
    got = {_key(row, keys): row for row in answer}
    want = {
        tuple("" if v is None else str(v) for v in row[: len(keys)]): row[len(keys) :] for row in expected
    }
    assert set(got) == set(want), (sorted(set(got) ^ set(want))[:10], len(got), len(want))
    for key, values in want.items():
        for metric, value in zip(metrics, values, strict=True):
            assert _same(got[key][metric], value), (key, metric, got[key][metric], value)


def _grouped(semantic: dict[str, Path], metrics: list[str], group_by: str, query: str) -> list[tuple]:
    """`mf query` of ``metrics`` by ``group_by`` equals ``query``'s rows (the group, then one
    value per metric); returns those rows for the test's own checks."""
    answer = _mf(semantic, "--metrics", ",".join(metrics), "--group-by", group_by)
    expected = _sql(semantic, query)
    _compare(answer, expected, [group_by], metrics)
    return expected


def _key(row: dict[str, str], keys: list[str]) -> tuple[str, ...]:
    """A row's group-by values as text; times as their day (mf writes 2022-05-01T00:00:00)."""
    return tuple(row[k][:10] if k.startswith("metric_time") else row[k] for k in keys)


def test_campaign_economics_metrics_equal_the_mart(semantic: dict[str, Path]) -> None:
    """Ratios are of the sums a query keeps: by month, channel and segment they equal the mart's
    sums divided; at the mart's own grain, its row-level columns."""
    metrics, ratios = ECONOMICS, ECONOMICS_RATIOS
    keys = ["metric_time__month", "economics__channel", "economics__segment"]
    answer = _mf(semantic, "--metrics", ",".join(metrics + ratios), "--group-by", ",".join(keys))
    expected = _sql(
        semantic,
        "select cast(period_month as varchar), channel, segment, sum(sends), sum(conversions), "
        "sum(revenue), sum(send_cost), sum(profit), sum(conversions) / sum(sends), "
        "sum(send_cost) / nullif(sum(conversions), 0), sum(revenue) / nullif(sum(send_cost), 0) "
        "from marts.campaign_economics group by all",
    )
    assert len(expected) > 20
    _compare(answer, expected, keys, metrics + ratios)

    keys = ["metric_time__month", "campaign", "economics__channel", "economics__segment"]
    answer = _mf(semantic, "--metrics", ",".join([*ratios, "profit"]), "--group-by", ",".join(keys))
    expected = _sql(
        semantic,
        "select cast(period_month as varchar), cast(bulk_campaign_id as varchar), channel, segment, "
        "conversion_rate, cost_per_conversion, roas, profit from marts.campaign_economics",
    )
    _compare(answer, expected, keys, [*ratios, "profit"])


def test_holdout_lift_by_campaign_equals_the_outcomes(semantic: dict[str, Path]) -> None:
    """Treated minus control conversion rate per campaign, complete outcome windows only."""
    expected = _grouped(
        semantic,
        HOLDOUT,
        "campaign",
        "with counts as (select bulk_campaign_id, "
        "coalesce(sum(converted) filter (where window_complete and not is_control), 0) "
        "as treated_conversions, "
        "count(*) filter (where window_complete and not is_control) as treated_clients, "
        "coalesce(sum(converted) filter (where window_complete and is_control), 0) "
        "as control_conversions, "
        "count(*) filter (where window_complete and is_control) as control_clients "
        "from marts.campaign_holdout_outcomes group by all), "
        "arms as (select *, treated_conversions / nullif(treated_clients, 0) as treated, "
        "control_conversions / nullif(control_clients, 0) as control from counts) "
        "select cast(bulk_campaign_id as varchar), treated - control, treated, control, "
        "treated_conversions, treated_clients, control_conversions, control_clients from arms",
    )
    assert len(expected) >= 2 and any(row[1] is not None for row in expected), expected


def test_uplift_incremental_profit_equals_the_selected_units(semantic: dict[str, Path]) -> None:
    expected = _grouped(
        semantic,
        UPLIFT,
        "uplift__arm",
        "select arm, coalesce(sum(expected_profit) filter (where is_selected), 0), "
        "count(*) filter (where is_selected) from marts.uplift_targeting group by all",
    )
    assert expected and sum(row[2] for row in expected) > 0, expected  # someone is worth contacting


@pytest.mark.parametrize("k", [50, 400])
def test_targeting_precision_at_k_equals_the_labels_of_the_top_k(semantic: dict[str, Path], k: int) -> None:
    """Precision at k: the share of the top k listed clients with a known label who bought,
    from customer_labels joined here (not from the mart's own label column)."""
    metrics = TARGETING
    where = f"{{{{ Dimension('targeting__rank') }}}} <= {k}"
    answer = _mf(semantic, "--metrics", ",".join(metrics), "--where", where)
    (expected,) = _sql(
        semantic,
        "select count(*) filter (where labels.purchased_next_90d) / nullif(count(labels.client_id), 0), "
        "count(labels.client_id), count(*), count(*) filter (where labels.purchased_next_90d) "
        "from marts.targeting_list as listed "
        "left join marts.customer_labels as labels "
        "on listed.client_id = labels.client_id and listed.as_of_date = labels.as_of_date "
        f"where listed.rank <= {int(k)}",
    )
    assert expected[2] == k and expected[1] > 0, expected  # one run, its top k, some labelled
    (row,) = answer
    for metric, value in zip(metrics, expected, strict=True):
        assert _same(row[metric], value), (metric, row[metric], value)


def test_segment_share_and_size_are_of_the_latest_cutoff(semantic: dict[str, Path]) -> None:
    expected = _grouped(
        semantic,
        SEGMENTS,
        "rfm__segment",
        "select segment, count(*) / sum(count(*)) over (), count(*) from marts.customer_segments "
        "where as_of_date = (select max(as_of_date) from marts.customer_segments) group by all",
    )
    assert len(expected) >= 4, expected
    # a filter keeps the share of all clients: the filtered segment's share, not 1
    segment, share, _ = max(expected, key=lambda row: row[2])
    answer = _mf(
        semantic,
        "--metrics",
        "segment_share",
        "--where",
        f"{{{{ Dimension('rfm__segment') }}}} = '{segment}'",
    )
    assert _same(answer[0]["segment_share"], share), (answer, share)


def test_customer_value_by_segment_equals_the_latest_clv_run(semantic: dict[str, Path]) -> None:
    expected = _grouped(
        semantic,
        VALUE,
        "valuation__segment",
        "select segment, sum(clv), avg(clv), count(*) from marts.customer_value "
        "where is_latest_at_cutoff and as_of_date = (select max(as_of_date) from marts.customer_value) "
        "group by all",
    )
    assert expected and sum(row[3] for row in expected) > 100, expected


def test_every_metric_is_compared() -> None:
    """The tests above query every metric the semantic layer defines, and only those."""
    defined = yaml.safe_load((REPO / "models" / "semantic" / "_metrics.yml").read_text())["metrics"]
    compared = [*ECONOMICS, *ECONOMICS_RATIOS, *HOLDOUT, *UPLIFT, *TARGETING, *SEGMENTS, *VALUE]
    assert sorted(m["name"] for m in defined) == sorted(compared)
