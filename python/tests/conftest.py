"""Shared fixtures: small generated raw data and a helper that runs dbt in a subprocess."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from targeting.cli import SINGLE_THREADED

# as the CLI does, before numpy, PyTensor or JAX load: one thread per numerical call
for _key, _value in SINGLE_THREADED.items():
    os.environ.setdefault(_key, _value)

REPO = Path(__file__).resolve().parents[2]
SAMPLES = REPO.parent / "shared" / "data" / "apparel_real_sample"
BIN = Path(sys.executable).parent


def run_dbt(
    args: list[str],
    db: Path,
    vars_: dict[str, str] | None = None,
    env: dict[str, str] | None = None,
    timeout: int = 600,
) -> subprocess.CompletedProcess:
    """Run dbt in the repo against the DuckDB file ``db``; never raises on failure.

    Artifacts go to ``target`` beside ``db``; ``env`` adds environment variables (the Spark
    target's MM_SPARK_DIR, for one).
    """
    env = dict(
        os.environ, MM_DUCKDB_PATH=str(db), DO_NOT_TRACK="1", DBT_PROFILES_DIR=str(REPO), **(env or {})
    )
    cmd = [str(BIN / "dbt"), *args, "--target-path", str(db.parent / "target")]
    if "--select" in args:
        # only tests whose parents are all selected (eager would pull in mart tests)
        cmd += ["--indirect-selection", "cautious"]
    if vars_:
        cmd += ["--vars", "{" + ", ".join(f"{k}: '{v}'" for k, v in vars_.items()) + "}"]
    return subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)


# the longest modules, started first so that pytest-xdist's two workers (one module each at
# a time) finish together instead of one running a long module alone at the end
FIRST_MODULES = ["test_spark_build.py", "test_incremental.py", "test_evaluation.py"]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Order the longest modules first (see FIRST_MODULES); the rest keep their order."""
    first = {name: rank for rank, name in enumerate(FIRST_MODULES)}
    items.sort(key=lambda item: first.get(item.path.name, len(first)))


def write_spec(tmp_path: Path, **changes: object) -> Path:
    """A copy of the shipped plain spec with some keys replaced, as a new file in ``tmp_path``."""
    import yaml

    raw = yaml.safe_load((REPO / "python" / "specs" / "purchase_90d.yml").read_text())
    raw.update(changes)
    path = tmp_path / f"spec_{len(list(tmp_path.glob('spec_*')))}.yml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


@pytest.fixture(scope="session")
def synth_raw(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Raw files from ``targeting synth --scale 0.02 --seed 7`` (about 1,000 buyers)."""
    from targeting.synth import SynthConfig, generate

    out = tmp_path_factory.mktemp("raw")
    generate(SynthConfig(scale=0.02, seed=7, out=out), progress=False)
    return out


@pytest.fixture
def raw_copy(synth_raw: Path, tmp_path: Path) -> Path:
    """A private copy of the generated raw files that a test may break."""
    dest = tmp_path / "raw"
    shutil.copytree(synth_raw, dest)
    return dest


@pytest.fixture(scope="session")
def samples() -> Path:
    """The real head-of-file samples of the public dataset."""
    if not SAMPLES.exists():
        pytest.skip(f"real samples not found at {SAMPLES}")
    return SAMPLES


@pytest.fixture(scope="session")
def warehouse(synth_raw: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A warehouse built by `dbt build` (all tests) from ``synth_raw``; treat as read-only."""
    db = tmp_path_factory.mktemp("wh") / "wh.duckdb"
    res = run_dbt(["build"], db, {"raw_path": str(synth_raw)})
    assert res.returncode == 0, res.stdout[-4000:]
    return db


@pytest.fixture(scope="session")
def spark(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """A local Spark session (PySpark, one core), its warehouse in a temporary folder.

    Needs Java 17 (``.ci/run`` installs Debian's openjdk-17-jre-headless when it is missing).
    """
    if shutil.which("java") is None:
        pytest.fail("Spark tests need Java 17: apt-get install openjdk-17-jre-headless (see .ci/run)")
    from pyspark.sql import SparkSession

    folder = tmp_path_factory.mktemp("spark")
    session = (
        SparkSession.builder.master("local[1]")
        .appName("marketing_mart_tests")
        .config("spark.sql.warehouse.dir", str(folder / "warehouse"))
        .config("spark.driver.extraJavaOptions", f"-Dderby.system.home={folder}")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "1")
        .config("spark.sql.session.timeZone", "UTC")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    try:
        yield session
    finally:
        session.stop()


@pytest.fixture
def private_warehouse(warehouse: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private copy of the built warehouse, and a private runs folder."""
    db = tmp_path / "wh.duckdb"
    shutil.copy(warehouse, db)
    monkeypatch.setenv("MM_RUNS_DIR", str(tmp_path / "runs"))
    return db


def scoring_population(db: Path) -> int:
    """Rows `targeting score` scores with the shipped specs: past buyers at the scoring cutoff."""
    import duckdb

    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(
            "select count(*) from marts.customer_features where is_scoring_cutoff and has_purchase_history"
        ).fetchone()[0]


@contextmanager
def write_lock_held(db: Path) -> Iterator[None]:
    """Hold the DuckDB file's write lock from another process while the block runs."""
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"import duckdb,time; c=duckdb.connect({str(db)!r}); print('ok', flush=True); time.sleep(120)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ok"
        yield
    finally:
        holder.kill()
        holder.wait()
