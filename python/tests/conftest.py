"""Shared fixtures: small generated raw data and a helper that runs dbt in a subprocess."""

from __future__ import annotations

import gc
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from targeting.cli.main import SINGLE_THREADED

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


#: ``--exclude`` values that leave out every data and unit test: a build of seeds and models
#: only, for tests that need the tables but not dbt's checks (which run on the shared build)
NO_TESTS = ["resource_type:test", "resource_type:unit_test"]


@dataclass
class DbtResult:
    """What :func:`run_dbt_in_process` returns: the exit code and every log message, as text."""

    returncode: int
    stdout: str
    stderr: str = ""


#: Parsed manifests of in-process runs, by (project folder, vars, database file stem): parsing
#: once per set of vars is what makes an in-process run cheaper than a new dbt process. The
#: artifact folder is not part of the key: a run writes its artifacts wherever it is told.
_MANIFESTS: dict[tuple[str, str, str], object] = {}


#: One folder name per test process for every raw folder a run reads (see _linked_raw_path)
_RAW_LINK = Path(tempfile.gettempdir()) / f"mm-raw-{os.getpid()}"


def _linked_raw_path(vars_: dict[str, str]) -> dict[str, str]:
    """``vars_`` with ``raw_path`` replaced by this process's link to that folder.

    The raw folder's path is rendered into the sources at parse time, so each test's own raw
    folder cost a parse of the project (5-8 s here); read through one link that each run
    points at its folder, the runs of a process share one parse per set of other vars. A
    path holding characters other than letters, digits, ``_ . / -`` (the crafted-name tests)
    is passed as it is: what is read literally there is the path itself.
    """
    raw = vars_.get("raw_path")
    if raw is None or not re.fullmatch(r"[\w./-]+", raw):
        return dict(vars_)
    if _RAW_LINK.is_symlink() or _RAW_LINK.exists():
        _RAW_LINK.unlink()
    _RAW_LINK.symlink_to(Path(raw).resolve(), target_is_directory=True)
    return {**vars_, "raw_path": str(_RAW_LINK)}


def close_dbt_connections() -> None:
    """Close what an in-process dbt (or a tool on dbt's adapters, such as MetricFlow) left open:
    the DuckDB adapter keeps its connection, so the file stays locked as long as it lives."""
    from dbt.adapters.duckdb.connections import DuckDBConnectionManager
    from dbt.adapters.factory import reset_adapters

    reset_adapters()
    DuckDBConnectionManager.close_all_connections()
    gc.collect()


def _parsed(project: Path, var_text: str, db: Path, target: str, lines: list[str]) -> object | None:
    """The manifest of ``project`` parsed with ``var_text`` for a database named like ``db``:
    parsed on the first call for that key (writing ``manifest.json`` to ``target``), then
    reused. None, with dbt's messages in ``lines``, when the project does not parse."""
    from dbt.cli.main import dbtRunner

    # the manifest names the database by the file's stem (DuckDB's catalog name)
    key = (str(project), var_text, db.stem)
    if key not in _MANIFESTS:
        common = _common_args(project, target, var_text)
        parsed = dbtRunner(callbacks=[lambda event: lines.append(event.info.msg)]).invoke(["parse", *common])
        if not parsed.success:
            if parsed.exception is not None:
                lines.append(str(parsed.exception))
            return None
        _MANIFESTS[key] = parsed.result
    return _MANIFESTS[key]


def _common_args(project: Path, target: str, var_text: str) -> list[str]:
    """The arguments of every in-process dbt call: project, profile, artifacts, vars, no logs."""
    return [
        *("--project-dir", str(project), "--profiles-dir", str(project), "--target-path", target),
        *("--vars", var_text, "--log-level", "none", "--log-level-file", "none"),
    ]


def _var_text(vars_: dict[str, str] | None) -> str:
    """``--vars`` for ``vars_``, the raw folder read through this process's link to it."""
    linked = _linked_raw_path(vars_ or {})
    return "{" + ", ".join(f"{k}: '{v}'" for k, v in linked.items()) + "}"


@contextmanager
def _dbt_env(db: Path) -> Iterator[None]:
    """MM_DUCKDB_PATH set to ``db`` (and usage events off) while dbt runs in this process;
    afterwards the adapter's connection is closed and the variable restored."""
    saved = os.environ.get("MM_DUCKDB_PATH")
    os.environ.update(MM_DUCKDB_PATH=str(db), DO_NOT_TRACK="1")
    try:
        yield
    finally:
        close_dbt_connections()
        if saved is None:
            os.environ.pop("MM_DUCKDB_PATH", None)
        else:
            os.environ["MM_DUCKDB_PATH"] = saved


def parse_in_process(db: Path, vars_: dict[str, str] | None = None) -> Path:
    """dbt's ``manifest.json`` for ``vars_``, written to ``target`` beside ``db``: the parse
    :func:`run_dbt_in_process` then reuses for a database of the same name and vars."""
    lines: list[str] = []
    target = db.parent / "target"
    with _dbt_env(db):
        parsed = _parsed(REPO, _var_text(vars_), db, str(target), lines)
    assert parsed is not None, "\n".join(lines)[-3000:]
    manifest = target / "manifest.json"
    # a parse made earlier in this process for the same key wrote its manifest elsewhere
    assert manifest.exists(), f"{vars_} was parsed before in this process, not into {target}"
    return manifest


def run_dbt_in_process(
    args: list[str],
    db: Path,
    vars_: dict[str, str] | None = None,
    var_text: str | None = None,
    project: Path = REPO,
    write_json: bool = False,
) -> DbtResult:
    """Run dbt in this process against ``db``, as :func:`run_dbt` does in a subprocess.

    The project is parsed once per set of vars and database name (dbt's programmatic runner
    reuses the manifest), so a run costs its nodes, not dbt's start-up and parse. After
    each run the DuckDB adapter's connection is closed, so the file is free for the test
    (and for a copy over it) as after a subprocess. ``var_text`` passes ``--vars`` as
    written (YAML a test crafts), instead of ``vars_``; ``project`` runs a copy of the project.
    dbt writes no ``manifest.json`` or ``run_results.json`` (about 0.6 s a run) unless
    ``write_json`` asks for them (a test that reads them or points a command at the manifest).

    A project that does not parse with the vars given (a var checked at parse time) returns
    the failure as a subprocess would: exit 1 and dbt's messages.
    """
    from dbt.cli.main import dbtRunner

    target = str(db.parent / "target")
    if var_text is None:
        var_text = _var_text(vars_)
    common = _common_args(project, target, var_text)
    if "--select" in args:
        common += ["--indirect-selection", "cautious"]
    lines: list[str] = []
    with _dbt_env(db):
        manifest = _parsed(project, var_text, db, target, lines)
        if manifest is None:
            return DbtResult(1, "\n".join(lines))
        runner = dbtRunner(manifest=manifest, callbacks=[lambda event: lines.append(event.info.msg)])
        json_flag = [] if write_json else ["--no-write-json"]
        result = runner.invoke([*args, *json_flag, *common])
        success = bool(result.success)
        if result.exception is not None:
            lines.append(str(result.exception))
        # the exception's traceback holds frames that hold the adapter's connection
        del result, runner
    return DbtResult(0 if success else 1, "\n".join(lines))


# the longest modules, started first so that pytest-xdist's workers (one module each at
# a time) finish together instead of one running a long module alone at the end; `make pytest`
# passes --no-loadscope-reorder, without which xdist would hand out the modules with the most
# tests first (the Spark build, two tests, would start last)
FIRST_MODULES = [
    # longest first (seconds per module in a two-worker run, MM_TEST_TIMELINE): what is left
    # at the end is short
    "test_bad_inputs.py",  # 160, with the shared build
    "test_spark_build.py",  # 136
    "test_incremental.py",  # 122
    "test_sql_scoring.py",  # 120
    "test_evaluation.py",  # 85
    "test_uplift.py",  # 71
    "test_model_layer.py",  # 60
    "test_plain_table.py",  # 67
    "test_spec_init.py",  # 45
    "test_nonlinear.py",  # 40
    "test_semantic_layer.py",  # 35
    "test_clv.py",  # 37
    "test_nothing_lost.py",  # 35
    "test_hardening.py",  # 28
    "test_staging.py",  # 26
    "test_shrinkage.py",  # 25
    "test_vocabulary.py",  # 30
    "test_every_command.py",  # 24
    "test_synth.py",  # 24
    "test_publish.py",  # 20
    "test_abtest.py",  # 18
    "test_lift.py",  # 18
    "test_input_core.py",  # 18
    "test_segment.py",  # 17
    "test_experiment_design.py",  # 9
    "test_mart.py",  # 8
]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Order the longest modules first (see FIRST_MODULES); the rest keep their order."""
    first = {name: rank for rank, name in enumerate(FIRST_MODULES)}
    items.sort(key=lambda item: first.get(item.path.name, len(first)))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    """With MM_TEST_TIMELINE=FILE, append each test's worker, start and end (epoch seconds,
    setup and teardown included) to FILE as tab-separated lines: where each worker spends the
    run, to order FIRST_MODULES by."""
    timeline = os.environ.get("MM_TEST_TIMELINE")
    start = time.time()
    yield
    if timeline:
        worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
        with open(timeline, "a") as out:
            out.write(f"{worker}\t{start:.2f}\t{time.time():.2f}\t{item.nodeid}\n")


def write_spec(tmp_path: Path, **changes: object) -> Path:
    """A copy of the shipped plain spec with some keys replaced, as a new file in ``tmp_path``."""
    import yaml

    raw = yaml.safe_load((REPO / "python" / "specs" / "purchase_90d.yml").read_text())
    raw.update(changes)
    path = tmp_path / f"spec_{len(list(tmp_path.glob('spec_*')))}.yml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def fingerprints(db: Path) -> dict[str, tuple]:
    """Every table and view of the warehouse with its row count and an order-free hash of its rows."""
    out: dict[str, tuple] = {}
    import duckdb

    with duckdb.connect(str(db), read_only=True) as con:
        names = con.execute(
            "select schema_name, table_name from duckdb_tables() where database_name = current_database() "
            "union all select schema_name, view_name from duckdb_views() "
            "where database_name = current_database() and not internal order by 1, 2"
        ).fetchall()
        for schema, table in names:
            rel = f'"{schema}"."{table}"'
            out[f"{schema}.{table}"] = con.execute(
                f"select count(*), sum(hash(t)) from {rel} as t"
            ).fetchone()
    return out


def table_warehouse(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, relation: str, frame: object, name: str = "table"
) -> Path:
    """A DuckDB file ``tmp_path/<name>.duckdb`` holding ``frame`` as ``relation`` (schema.table)
    and nothing else, with private runs and reports folders: a table the generator did not make."""
    import duckdb

    from targeting.core.sqlsafe import ident

    monkeypatch.setenv("MM_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.setenv("MM_REPORTS_DIR", str(tmp_path / "reports"))
    db = tmp_path / f"{name}.duckdb"
    schema, table = relation.split(".")
    with duckdb.connect(str(db)) as con:
        con.execute(f"create schema {ident(schema)}")
        con.register("frame", frame)
        con.execute(f"create table {ident(schema)}.{ident(table)} as select * from frame")
    return db


def _shared(tmp_path_factory: pytest.TempPathFactory, name: str) -> Path:
    """A path every pytest-xdist worker of this run sees (the run's temporary root)."""
    root = tmp_path_factory.getbasetemp()
    return (root.parent if os.environ.get("PYTEST_XDIST_WORKER") else root) / name


@contextmanager
def _made_once(path: Path) -> Iterator[bool]:
    """Under a lock shared by the workers: yield whether ``path`` still has to be made.

    The first worker to arrive makes it (the block must create ``path``) and marks it done;
    the others wait for the lock and then use it as it is.
    """
    from filelock import FileLock

    done = path.with_name(path.name + ".done")
    with FileLock(str(path.with_name(path.name + ".lock"))):
        todo = not done.exists()
        yield todo
        if todo:
            done.touch()


def _generated_once(tmp_path_factory: pytest.TempPathFactory, name: str, **config: Any) -> Path:
    """``targeting synth`` output (``config``: SynthConfig's fields) in the run's shared folder
    ``name``, generated by the first worker that needs it."""
    from targeting.data.synth import SynthConfig, generate

    out = _shared(tmp_path_factory, name)
    with _made_once(out) as todo:
        if todo:
            shutil.rmtree(out, ignore_errors=True)
            generate(SynthConfig(out=out, **config), progress=False)
    return out


@pytest.fixture(scope="session")
def synth_raw(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Raw files from ``targeting synth --scale 0.02 --seed 7`` (about 1,000 buyers).

    Made once for the whole run and shared by the workers: treat as read-only (``raw_copy``
    gives a private copy to break).
    """
    return _generated_once(tmp_path_factory, "raw", scale=0.02, seed=7)


@pytest.fixture(scope="session")
def synth_raw_scale_01(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Raw files from ``targeting synth --scale 0.1 --seed 11`` (about 5,000 buyers) and their
    ground truth: the data of the tests that need more rows than ``synth_raw`` (evaluation
    against the oracle, recovering the true effects, the generator's label rate).

    Made once for the whole run and shared by the workers: treat as read-only.
    """
    return _generated_once(tmp_path_factory, "raw_scale_01", scale=0.1, seed=11)


@pytest.fixture(scope="session")
def holdouts_built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Raw files from ``targeting synth --scale 0.05 --seed 3 --ab-campaigns 20`` (planted
    per-client uplift in 20 holdout campaigns) and a warehouse of the models the lift and
    uplift tests read (``+campaign_holdout_outcomes +campaign_holdout_features``, without
    their data tests, which run on the shared build), with its manifest in ``target`` beside it.

    Made once for the whole run and shared by the workers: treat both as read-only (copy the
    warehouse, keeping its file name, to write to it).
    """
    raw = _generated_once(tmp_path_factory, "holdouts_raw", scale=0.05, seed=3, ab_campaigns=20)
    folder = _shared(tmp_path_factory, "holdouts")
    db = folder / "wh" / "wh.duckdb"
    with _made_once(folder) as todo:
        if todo:
            shutil.rmtree(folder, ignore_errors=True)
            db.parent.mkdir(parents=True)
            select = ["--select", "+campaign_holdout_outcomes", "+campaign_holdout_features"]
            res = run_dbt_in_process(
                ["build", *select, "--exclude", *NO_TESTS], db, {"raw_path": str(raw)}, write_json=True
            )
            assert res.returncode == 0, res.stdout[-3000:]
    return raw, db


@pytest.fixture(scope="session", autouse=True)
def dbt_manifest(synth_raw: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """dbt's manifest, where the commands resolve bare model names (``customer_features``).

    A fresh clone has no ``target/``: the project is parsed once for the whole run (shared by
    the workers) and ``MM_DBT_MANIFEST`` points at it, unless already set. It is parsed in
    this process with the shared warehouse's vars and database name, so the worker that
    builds ``warehouse`` (and every run of it on a raw folder with no other vars) reuses it.
    """
    if os.environ.get("MM_DBT_MANIFEST"):
        yield Path(os.environ["MM_DBT_MANIFEST"])
        return
    folder = _shared(tmp_path_factory, "parsed")
    with _made_once(folder) as todo:
        if todo:
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir()
            parse_in_process(folder / "wh.duckdb", {"raw_path": str(synth_raw)})
    manifest = folder / "target" / "manifest.json"
    os.environ["MM_DBT_MANIFEST"] = str(manifest)
    try:
        yield manifest
    finally:
        os.environ.pop("MM_DBT_MANIFEST", None)


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
    """A warehouse built by `dbt build` (every model, seed, data and unit test) from ``synth_raw``.

    Built once for the whole run and shared by the workers: treat as read-only (copy it to
    change it, as ``private_warehouse`` does). Its artifacts are in ``target`` beside it.
    """
    folder = _shared(tmp_path_factory, "wh")
    db = folder / "wh.duckdb"
    with _made_once(folder) as todo:
        if todo:
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir()
            # in this process: the parse is dbt_manifest's when this worker made it
            res = run_dbt_in_process(["build"], db, {"raw_path": str(synth_raw)}, write_json=True)
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


def fitted_and_scored(warehouse: Path, root: Path) -> tuple[Path, Path]:
    """A copy of ``warehouse`` under ``root`` with the shipped plain spec fitted (a reduced
    sampler) and scored, and its runs folder: made once by the modules whose tests break a
    later step (:func:`scored_warehouse` makes it once per run; :func:`private_copy` gives
    each test its own)."""
    db, runs = root / "wh.duckdb", root / "runs"
    shutil.copy(warehouse, db)
    _fit_shipped("purchase_90d.yml", db, runs, score=True)
    return db, runs


def _fit_shipped(spec: str, db: Path, runs: Path, score: bool = False) -> None:
    """`targeting fit` of the shipped spec ``spec`` on ``db`` with a reduced sampler, the run
    saved in ``runs``; with ``score``, `targeting score` of it too."""
    from targeting.cli import main as cli

    fast = ["--draws", "150", "--tune", "150", "--chains", "2", "--quiet"]
    mp = pytest.MonkeyPatch()
    mp.setenv("MM_RUNS_DIR", str(runs))
    try:
        path = REPO / "python" / "specs" / spec
        assert cli.main(["fit", "--spec", str(path), "--db", str(db), *fast]) == 0
        if score:
            assert cli.main(["score", "--allow-failed-diagnostics", "--db", str(db), "--quiet"]) == 0
    finally:
        mp.undo()


@pytest.fixture(scope="session")
def scored_warehouse(warehouse: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The shared warehouse with the shipped plain spec fitted (a reduced sampler) and scored,
    and its runs folder (:func:`fitted_and_scored`).

    Made once for the whole run by whichever worker needs it first, and shared: treat as
    read-only (:func:`private_copy` gives a test its own copy of both).
    """
    folder = _shared(tmp_path_factory, "scored")
    with _made_once(folder) as todo:
        if todo:
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir()
            fitted_and_scored(warehouse, folder)
    return folder / "wh.duckdb", folder / "runs"


@pytest.fixture(scope="session")
def hierarchical_run(warehouse: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A runs folder holding one run of the shipped hierarchical spec fitted on the shared
    warehouse (a reduced sampler; fitting only reads the warehouse): the run the scoring tests
    start from. Made once for the whole run and shared by the workers: :func:`add_run` copies
    it into a test's runs folder."""
    runs = _shared(tmp_path_factory, "hierarchical_runs")
    with _made_once(runs) as todo:
        if todo:
            shutil.rmtree(runs, ignore_errors=True)
            _fit_shipped("purchase_90d_hierarchical.yml", warehouse, runs)
    return runs


def add_run(made: Path, runs: Path) -> str:
    """Copy the latest run of the runs folder ``made`` into ``runs`` and make it the latest
    there, as `targeting fit` would have; returns its id."""
    run = (made / "LATEST").read_text().strip()
    runs.mkdir(parents=True, exist_ok=True)
    shutil.copytree(made / run, runs / run)
    (runs / "LATEST").write_text(run + "\n")
    return run


def private_copy(
    made: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[Path, Path]:
    """A private copy of a :func:`fitted_and_scored` warehouse and runs folder (MM_RUNS_DIR set)."""
    db, runs = tmp_path / "wh.duckdb", tmp_path / "runs"
    shutil.copy(made[0], db)
    shutil.copytree(made[1], runs)
    monkeypatch.setenv("MM_RUNS_DIR", str(runs))
    return db, runs


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


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
#: screenshots of every report page a test renders (kept as artifacts of the run)
ARTIFACTS = Path(os.environ.get("MM_TEST_ARTIFACTS", REPO / "data" / "test_artifacts")) / "report_pages"


def check_page_in_chromium(page: Path, name: str) -> None:
    """Render a report page in headless Chromium 1,200 px wide and check what a reader sees.

    Every figure decodes and no table is wider than the page (the page's script records both);
    the screenshot goes to ``ARTIFACTS/<name>.png``. Outside CI a machine without Chromium
    skips the rendering (the page's other checks still run); in CI it fails.
    """
    if CHROMIUM is None:
        if os.environ.get("CI"):
            pytest.fail("Debian's chromium is needed to render the report pages (.ci/run installs it)")
        return
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / f"{name}.png"
    profile = Path(tempfile.mkdtemp(prefix="chromium-"))
    try:
        out = subprocess.run(
            [
                CHROMIUM,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--hide-scrollbars",
                f"--user-data-dir={profile}",
                "--window-size=1200,2400",
                "--virtual-time-budget=5000",
                f"--screenshot={shot}",
                "--dump-dom",
                page.as_uri(),
            ],
            capture_output=True,
            text=True,
            timeout=120,
        ).stdout
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    body = out[out.find("<body") : out.find(">", out.find("<body")) + 1]
    assert 'data-page-width="1200"' in body, body
    expected = body.split('data-figures-expected="')[1].split('"')[0]
    assert f'data-figures-loaded="{expected}"' in body, body
    assert 'data-tables-overflowing="0"' in body, (name, body)
    assert shot.exists() and shot.stat().st_size > 0
