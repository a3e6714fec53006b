"""The same dbt project on Spark: every model and test builds, and the marts equal DuckDB's.

`dbt build --target spark` runs on a local PySpark session (dbt-spark's session method) over
the same generated raw files as the DuckDB ``warehouse`` fixture. Spark writes its tables as
Parquet under MM_SPARK_DIR, which DuckDB reads directly for the comparison.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from .conftest import run_dbt

pytestmark = pytest.mark.slow

# Spark's tables rebuild in full; these columns say which run or file wrote a row (or hash
# it with the engine's own function), so they differ between engines by design
ENGINE_COLUMNS = {"load_id", "rates_checksum", "source_file", "source_fingerprint"}
REL_TOL = 1e-9


def _generic_test_pairs(manifest: dict) -> dict[tuple[str, str], list[str]]:
    """The data tests of each (generic test macro, model or seed it tests), by unique id."""
    pairs: dict[tuple[str, str], list[str]] = {}
    for uid, node in sorted(manifest["nodes"].items()):
        meta = node.get("test_metadata") or {}
        if node["resource_type"] == "test" and meta:
            pairs.setdefault((meta["name"], node["attached_node"]), []).append(uid)
    return pairs


def _fed_by_ml(manifest: dict) -> set[str]:
    """Models downstream of the ``ml`` source: on Spark the ml tables are empty, so are they."""
    parents = manifest["parent_map"]
    ml = {uid for uid, src in manifest["sources"].items() if src["source_name"] == "ml"}
    fed: dict[str, bool] = {}

    def is_fed(uid: str) -> bool:
        if uid not in fed:
            fed[uid] = False
            fed[uid] = any(p in ml or (p.startswith("model.") and is_fed(p)) for p in parents.get(uid, []))
        return fed[uid]

    models = [uid for uid, node in manifest["nodes"].items() if node["resource_type"] == "model"]
    return {uid for uid in models if is_fed(uid)}


def spark_generic_tests(manifest: dict) -> set[str]:
    """The generic data tests the Spark build runs, by unique id: each generic test macro once.

    What could fail on one engine and not the other is the macro's SQL, so each macro runs on
    Spark on one model it tests (the first by unique id that has rows there: the models fed
    by the ``ml`` tables are empty on Spark, since the Python layer writes to DuckDB). That the
    rows themselves pass every test is shown on DuckDB's shared build, where every instance
    runs, and the marts Spark builds equal DuckDB's (``test_spark_marts_hold_the_same_rows_and_values``);
    ``make dbt-test-spark`` runs every instance on Spark.
    """
    fed = _fed_by_ml(manifest)
    chosen: dict[str, tuple[bool, str]] = {}
    for (macro, model), uids in sorted(_generic_test_pairs(manifest).items()):
        candidate = (model in fed, uids[0])  # a model with rows first, then by unique id
        if macro not in chosen or candidate < chosen[macro]:
            chosen[macro] = candidate
    return {uid for _, uid in chosen.values()}


def repeats(manifest: dict) -> list[str]:
    """Names of the generic data tests the Spark build leaves out (see :func:`spark_generic_tests`)."""
    kept = spark_generic_tests(manifest)
    return [
        node["name"]
        for uid, node in manifest["nodes"].items()
        if node["resource_type"] == "test" and node.get("test_metadata") and uid not in kept
    ]


@pytest.fixture(scope="module")
def spark_build(synth_raw: Path, dbt_manifest: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The Spark warehouse folder after `dbt build --target spark`: every model, seed, unit test
    and singular test, and each generic test macro once (:func:`spark_generic_tests`)."""
    if shutil.which("java") is None:
        pytest.fail("the Spark build needs Java 17: apt-get install openjdk-17-jre-headless (see .ci/run)")
    folder = tmp_path_factory.mktemp("spark_dbt")
    # one core and one shuffle partition: the other pytest workers keep the other core,
    # and the test data is small (each query's fixed cost dominates). The JVM compiles with
    # C1 only, collects serially and skips whole-stage code generation, and the catalog lives
    # in memory (the comparison reads the Parquet files): the same build took about 1 core
    # of JVM time instead of 1.65 (measured with ps while it ran), in the same wall time
    env = {
        "MM_SPARK_DIR": str(folder),
        "MM_SPARK_DRIVER_MEMORY": "2g",
        "MM_SPARK_MASTER": "local[1]",
        "MM_SPARK_SHUFFLE_PARTITIONS": "1",
        "MM_SPARK_CATALOG": "in-memory",
        "MM_SPARK_ADAPTIVE": "false",
        "MM_SPARK_JVM_OPTIONS": "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC -XX:ActiveProcessorCount=1",
        "MM_SPARK_WHOLESTAGE_CODEGEN": "false",
    }
    # the raw folder's name holds glob characters, beside an empty decoy that the pattern
    # would match: Spark must read the folder named, literally
    raw = folder / "raw[1]{a,b}"
    shutil.copytree(synth_raw, raw)
    (folder / "raw1a").mkdir()
    # the DuckDB path is unused on Spark; artifacts go to folder/target
    skip = repeats(json.loads(dbt_manifest.read_text()))
    res = run_dbt(
        ["build", "--target", "spark", "--exclude", *skip],
        folder / "unused.duckdb",
        {"raw_path": str(raw)},
        env,
        1500,
    )
    assert res.returncode == 0, res.stdout[-6000:]
    return folder


def _results(folder: Path) -> list[dict]:
    return json.loads((folder / "target" / "run_results.json").read_text())["results"]


def test_spark_build_runs_every_model_and_test(spark_build: Path) -> None:
    results = _results(spark_build)
    failed = [
        r["unique_id"]
        for r in results
        if r["status"] not in ("success", "pass") and not r["unique_id"].startswith("exposure.")
    ]
    assert failed == []
    # every model, seed, singular test and unit test of the project ran, and every generic
    # test macro once: nothing else was left out
    manifest = json.loads((spark_build / "target" / "manifest.json").read_text())
    wanted = (
        {
            uid
            for uid, node in manifest["nodes"].items()
            if node["resource_type"] in ("model", "seed")
            or (node["resource_type"] == "test" and not node.get("test_metadata"))
            if node["config"].get("enabled", True)
        }
        | set(manifest["unit_tests"])
        | spark_generic_tests(manifest)
    )
    ran = {r["unique_id"] for r in results}
    assert wanted - ran == set()
    pairs, fed = _generic_test_pairs(manifest), _fed_by_ml(manifest)
    tested = {pair for pair, uids in pairs.items() if set(uids) & ran}
    assert {macro for macro, _ in tested} == {macro for macro, _ in pairs}  # every macro ran on Spark
    # each on a model with rows there, where the macro tests one
    with_rows = {macro for macro, model in pairs if model not in fed}
    assert {macro for macro, model in tested if model not in fed} == with_rows
    kinds = pd.Series([uid.split(".")[0] for uid in ran]).value_counts()
    assert kinds["test"] >= 15 and kinds["unit_test"] >= 8 and kinds["model"] >= 40


def _mart_keys(warehouse: Path) -> dict[str, list[str]]:
    """Each mart's declared unique key (its unique_combination_of_columns test)."""
    manifest = json.loads((warehouse.parent / "target" / "manifest.json").read_text())
    marts = {
        node["name"]: []
        for node in manifest["nodes"].values()
        if node["resource_type"] == "model" and node["schema"] == "marts"
    }
    for node in manifest["nodes"].values():
        meta = node.get("test_metadata") or {}
        if meta.get("name") == "unique_combination_of_columns":
            model = node["attached_node"].split(".")[-1]
            if model in marts:
                marts[model] = list(meta["kwargs"]["combination_of_columns"])
    return marts


def _comparable(frame: pd.DataFrame) -> pd.DataFrame:
    """Whole numbers as Int64 and the rest as float64 (Spark's int and decimal vs DuckDB's
    bigint and decimal); 19-digit ids stay exact."""
    out = frame.drop(columns=[c for c in frame.columns if c in ENGINE_COLUMNS])
    for column in out.columns:
        values = out[column]
        if pd.api.types.is_bool_dtype(values):
            continue
        if pd.api.types.is_integer_dtype(values):
            out[column] = values.astype("Int64")
        elif pd.api.types.is_float_dtype(values):
            out[column] = values.astype("float64")
        elif values.dtype == object and values.map(lambda v: hasattr(v, "as_tuple")).any():
            out[column] = values.astype("float64")  # Decimal objects
    return out


def test_spark_marts_hold_the_same_rows_and_values(spark_build: Path, warehouse: Path) -> None:
    keys = _mart_keys(warehouse)
    assert {"customer_features", "customer_labels", "campaign_economics"} <= set(keys)
    compared = 0
    with duckdb.connect(str(warehouse), read_only=True) as con:
        for mart, key in sorted(keys.items()):
            duck = con.execute(f'select * from marts."{mart}"').df()
            files = spark_build / "warehouse" / "marts.db" / mart
            parquet = sorted(files.glob("*.parquet"))
            spark = con.execute("select * from read_parquet(?)", [[str(p) for p in parquet]]).df()
            assert sorted(spark.columns) == sorted(duck.columns), mart
            assert len(spark) == len(duck), f"{mart}: {len(spark)} rows on Spark, {len(duck)} on DuckDB"
            if duck.empty:
                continue
            duck, spark = _comparable(duck), _comparable(spark[duck.columns])
            if not key:
                key = [c for c in duck.columns if not pd.api.types.is_float_dtype(duck[c])]
            duck = duck.sort_values(key).reset_index(drop=True)
            spark = spark.sort_values(key).reset_index(drop=True)
            for column in duck.columns:
                a, b = duck[column], spark[column]
                if pd.api.types.is_float_dtype(a):
                    same = np.isclose(a, b, rtol=REL_TOL, atol=1e-12, equal_nan=True)
                else:
                    same = ((a == b) | (a.isna() & b.isna())).fillna(False).astype(bool)
                assert bool(np.all(same)), f"{mart}.{column}: {int((~same).sum())} rows differ"
            compared += 1
    # the populated marts of the generated data, compared row by row
    assert compared >= 9
