"""``make bench``: our time and peak memory next to a baseline measured in the same run.

Sections (``BENCH_SECTIONS``, default ``mart,fit,score``):

* mart: ``dbt run`` of seeds, staging, intermediate and marts on generated data at
  ``BENCH_SCALE`` (default 1: 12.7M message rows), against (a) a bare DuckDB scan and
  group-by of the messages file, the floor, and (b) the same core features in pandas
  (benchmarks/pandas_features.py), the way public notebooks compute them; then the daily
  runs after one messages file (whole project and selector, the median of
  ``BENCH_DAILY_REPEATS``, default 3) against that full run.
* fit: the hierarchical spec on ``BENCH_FIT_ROWS`` (default 50,000) training rows, 4 chains x
  1000 draws, for each installed inference method, against PyMC's default NUTS.
* score: clients per second and peak memory with 1000-draw intervals at ``BENCH_SCORE_SIZES``
  (default 1M and 5M rows), against Bambi's own unchunked ``predict`` at 100k rows; the SQL
  engine (the posterior compiled into SQL, run inside DuckDB) at the same sizes, against the
  fast engine, with the largest differences of its scores from the fast engine's.
* scale (not in the default): the mart section again at ``BENCH_BIG_SCALE`` (default 10,
  about 127M message rows; generated once, 15 GB of CSV): ``dbt run`` time and peak memory
  (DuckDB spills to disk past ``BENCH_BIG_MEMORY_LIMIT``, default 8GB; the project's default
  limit is 4GB, ``MM_DUCKDB_MEMORY_LIMIT``), the bare scan and the daily runs,
  against the scale-``BENCH_SCALE`` mart of this run (or, when the mart section is left
  out, of results.json, which the table then says).
* spark (not in the default): ``dbt run`` of the whole project on the ``spark`` target (a
  local PySpark session, ``local[2]``) at ``BENCH_SCALE``, against ``dbt run`` on DuckDB of
  the same files in the same run. Peak memory is the dbt process's; Spark's JVM (driver
  memory ``MM_SPARK_DRIVER_MEMORY``, default 4g) is a separate process, its peak read from
  /proc each second while it runs.
* convergence (not in the default): a generated 64k-unit, three-arm e-mail experiment (the
  shape of a public one: recency, spend history, text columns, ~15% visit rate, two treatment
  arms with different, feature-dependent effects, no id) run through ``targeting uplift``
  once per uplift model (the two-model approach, then the interaction model) with the
  shipped uplift spec's sampler settings, and ``targeting fit`` with the shipped model spec's
  sampler: max r_hat, min bulk ESS, divergences, wall time and held-out Qini AUC per arm,
  against the gate (r_hat <= 1.01, no divergences), and the interaction model's wall time over
  the two-model approach's and its Qini AUC minus theirs.
* apparel (not in the default): the shipped spline spec (python/specs/purchase_90d_splines.yml,
  60,000 training rows) fitted and evaluated out of time (the generated target file) against
  the logistic and gradient boosting baselines trained on the same rows, and the plain spec on
  the same rows; gates: ROC-AUC >= 0.785, above both baselines, log loss below both, the fit
  within 180 s. Beside them, the ceiling the target file allows (``apparel_ceiling``): the
  ROC-AUC of the generator's posterior predictive probability given the client's true
  engagement and order count, which no model on the mart can beat but by chance.
* precision (not in the default): the plain spec (python/specs/purchase_90d.yml) fitted in
  float64 and in float32 on the bench warehouse, each evaluated out of time: fit time, r_hat,
  bulk ESS, divergences, ROC-AUC and log loss side by side.

Sections left out keep their last results in results.json; the fit and score sections reuse
the bench warehouse when the mart section is left out. Every command runs in its own child
process; peak memory is that child's max RSS (``wait4``).
Results go to ``benchmarks/results.json`` and a table on standard output.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import NoReturn

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
DATA = REPO / "data" / "bench"
#: every section ``BENCH_SECTIONS`` may name (see the module docstring)
KNOWN_SECTIONS = ("mart", "fit", "score", "apparel", "precision", "convergence", "scale", "spark")


def _refuse(message: str) -> NoReturn:
    """Stop before anything runs or is written: one line on standard error, exit 2."""
    print(f"bench: {message}", file=sys.stderr)
    raise SystemExit(2)


def _sections(text: str) -> list[str]:
    """The comma-separated section names of ``BENCH_SECTIONS``, each one of KNOWN_SECTIONS."""
    names = [name.strip() for name in text.split(",")]
    unknown = [name for name in names if name not in KNOWN_SECTIONS]
    if unknown:
        _refuse(
            f"BENCH_SECTIONS={text!r} names {', '.join(repr(n) for n in unknown)}; "
            f"expected comma-separated sections from {', '.join(KNOWN_SECTIONS)}"
        )
    return names


def _number(name: str, default: str, whole: bool) -> float:
    """The environment variable ``name`` as a finite number above 0 (a whole one if ``whole``)."""
    text = os.environ.get(name, default)
    try:
        value = int(text) if whole else float(text)
    except ValueError:
        value = float("nan")
    if not (math.isfinite(value) and value > 0):
        _refuse(f"{name}={text!r} is not a {'whole ' if whole else ''}number above 0")
    return value


SCALE = _number("BENCH_SCALE", "1", whole=False)
SECTIONS = _sections(os.environ.get("BENCH_SECTIONS", "mart,fit,score"))
FIT_ROWS = int(_number("BENCH_FIT_ROWS", "50000", whole=True))
MART_DB = DATA / f"mart_scale{SCALE:g}.duckdb"
BIG_SCALE = float(os.environ.get("BENCH_BIG_SCALE", "10"))
BIG_MEMORY_LIMIT = os.environ.get("BENCH_BIG_MEMORY_LIMIT", "8GB")
SCORE_SIZES = [int(x) for x in os.environ.get("BENCH_SCORE_SIZES", "1000000,5000000").split(",")]


def _portable(text: str) -> str:
    """Write paths relative to the repo: results.json is committed, machine paths are not."""
    return text.replace(str(REPO) + "/", "").replace(str(REPO), ".")


def measure(label: str, cmd: list[str], env: dict[str, str] | None = None) -> dict[str, float]:
    """Run ``cmd`` in a child process; return wall seconds and the child's peak RSS in MB."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        cmd,
        cwd=REPO,
        env={**os.environ, **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    out = proc.stdout.read() if proc.stdout else ""
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        print(out[-3000:], file=sys.stderr)
        raise SystemExit(f"bench: {label} failed with exit {code}")
    result = {"seconds": round(seconds, 2), "peak_mb": round(usage.ru_maxrss / 1024, 1)}
    print(f"  {label:<48} {result['seconds']:>9.1f} s {result['peak_mb']:>9.0f} MB", flush=True)
    result["output_tail"] = _portable(out[-400:])
    return result


def py(code: str) -> list[str]:
    """A command running ``code`` in this interpreter."""
    return [sys.executable, "-c", code]


def ensure_raw(scale: float = SCALE) -> Path:
    """Generated raw files at ``scale`` (made once, then reused)."""
    raw = DATA / f"raw_scale{scale:g}"
    if not (raw / "apparel-messages.csv").exists():
        measure(
            f"generate scale {scale:g} (setup)",
            [
                str(BIN / "targeting"),
                "synth",
                "--scale",
                str(scale),
                "--seed",
                "1",
                "--out",
                str(raw),
                "--quiet",
            ],
        )
    return raw


def bench_mart(
    raw: Path, db: Path = MART_DB, scale: float = SCALE, pandas: bool = True, memory_limit: str | None = None
) -> dict[str, object]:
    """dbt run vs a bare scan and (``pandas``) vs pandas; ``memory_limit`` is DuckDB's."""
    db.unlink(missing_ok=True)
    env = {"MM_DUCKDB_PATH": str(db), "DBT_PROFILES_DIR": str(REPO), "DO_NOT_TRACK": "1"}
    if memory_limit:
        env["MM_DUCKDB_MEMORY_LIMIT"] = memory_limit
    vars_ = "{raw_path: '" + str(raw) + "'}"
    seed = measure("dbt seed (setup)", [str(BIN / "dbt"), "seed", "--vars", vars_], env)
    ours = measure("dbt run: staging -> marts", [str(BIN / "dbt"), "run", "--vars", vars_], env)
    floor = measure(
        "floor: duckdb scan + group by of messages",
        py(
            "import duckdb; duckdb.execute('select client_id, event, channel, count(*) from "
            f"read_csv(?) group by all', [{str(raw / 'apparel-messages.csv')!r}]).fetchall()"
        ),
    )
    # what any dbt run costs before it does real work: process start, project parse, hooks
    # and one small model; part of the bound on the ratio to the bare scan
    fixed = measure(
        "dbt fixed cost: one small model",
        [str(BIN / "dbt"), "run", "--select", "int_cutoffs_scheduled", "--vars", vars_],
        env,
    )
    incremental = bench_daily_append(raw, db, vars_, env)
    result: dict[str, object] = {
        "scale": scale,
        "dbt_seed": seed,
        "dbt_run": ours,
        "floor_scan": floor,
        "dbt_fixed_cost": fixed,
        "ratio_dbt_fixed_cost_vs_floor": round(fixed["seconds"] / floor["seconds"], 2),
        "daily_append": incremental,
        "ratio_daily_append_vs_full": round(incremental["seconds"] / ours["seconds"], 3),
        "ratio_daily_selector_vs_full": round(
            incremental["selector_daily_messages"]["seconds"] / ours["seconds"],  # type: ignore[index]
            3,
        ),
        "ratio_daily_selector_compacting_vs_full": round(
            incremental["selector_daily_messages_compacting"]["seconds"] / ours["seconds"],  # type: ignore[index]
            3,
        ),
        "ratio_vs_floor": round(ours["seconds"] / floor["seconds"], 2),
        "warehouse": _portable(str(db)),
        "duckdb_memory_limit": memory_limit or os.environ.get("MM_DUCKDB_MEMORY_LIMIT", "4GB"),
    }
    if not pandas:
        return result
    import duckdb

    with duckdb.connect(str(db), read_only=True) as con:
        cutoffs = [
            str(r[0])
            for r in con.execute(
                "select as_of_date from intermediate.int_cutoffs_scheduled order by 1"
            ).fetchall()
        ]
    baseline = measure(
        "baseline: pandas features (same cutoffs)",
        py(
            f"import sys; sys.path.insert(0, {str(REPO / 'benchmarks')!r}); import pandas as pd; "
            "from pandas_features import pandas_features; "
            "from pathlib import Path; "
            f"pandas_features(Path({str(raw)!r}), [pd.Timestamp(c) for c in {cutoffs!r}])"
        ),
    )
    result.update(pandas=baseline, ratio_vs_pandas=round(ours["seconds"] / baseline["seconds"], 3))
    return result


def bench_scale(small: dict[str, object], same_run: bool) -> dict[str, object]:
    """The mart at BIG_SCALE (no pandas baseline: it would not fit) against ``small``."""
    big = bench_mart(
        ensure_raw(BIG_SCALE),
        DATA / f"mart_scale{BIG_SCALE:g}.duckdb",
        BIG_SCALE,
        pandas=False,
        memory_limit=BIG_MEMORY_LIMIT,
    )

    def ratio(key: str, field: str = "seconds") -> float:
        return round(big[key][field] / small[key][field], 2)  # type: ignore[index]

    ratios = {
        "data": round(BIG_SCALE / float(small["scale"]), 2),  # type: ignore[arg-type]
        "dbt_run_time": ratio("dbt_run"),
        "dbt_run_peak_memory": ratio("dbt_run", "peak_mb"),
        "floor_scan_time": ratio("floor_scan"),
        "daily_append_time": ratio("daily_append"),
    }
    print(
        f"  scale {BIG_SCALE:g} vs {small['scale']:g}: dbt run {ratios['dbt_run_time']}x the time, "
        f"peak {big['dbt_run']['peak_mb']:.0f} MB; daily run {big['ratio_daily_append_vs_full']}x "  # type: ignore[index]
        f"its full run" + ("" if same_run else " (small scale from results.json, an earlier run)"),
        flush=True,
    )
    return {**big, "vs_small_scale": ratios, "small_scale_measured_in_this_run": same_run}


def bench_spark(raw: Path) -> dict[str, object]:
    """The whole project's ``dbt run`` on Spark against the same on DuckDB, same files."""
    vars_ = "{raw_path: '" + str(raw) + "'}"
    db = DATA / f"spark_baseline_scale{SCALE:g}.duckdb"
    db.unlink(missing_ok=True)
    duck_env = {"MM_DUCKDB_PATH": str(db), "DBT_PROFILES_DIR": str(REPO), "DO_NOT_TRACK": "1"}
    measure("duckdb: dbt seed (setup)", [str(BIN / "dbt"), "seed", "--vars", vars_], duck_env)
    duck = measure("duckdb: dbt run", [str(BIN / "dbt"), "run", "--vars", vars_], duck_env)
    folder = DATA / f"spark_scale{SCALE:g}"
    subprocess.run(["rm", "-rf", str(folder)], check=True)
    spark_env = {"MM_SPARK_DIR": str(folder), "DBT_PROFILES_DIR": str(REPO), "DO_NOT_TRACK": "1"}
    target = ["--target", "spark"]
    measure("spark: dbt seed (setup)", [str(BIN / "dbt"), "seed", *target, "--vars", vars_], spark_env)
    run = [str(BIN / "dbt"), "run", *target, "--vars", vars_]
    spark = measure_with_children("spark: dbt run", run, spark_env)
    db.unlink(missing_ok=True)
    return {
        "scale": SCALE,
        "duckdb_dbt_run": duck,
        "spark_dbt_run": spark,
        "ratio_spark_vs_duckdb": round(spark["seconds"] / duck["seconds"], 2),
        "spark_driver_memory": os.environ.get("MM_SPARK_DRIVER_MEMORY", "4g"),
    }


def measure_with_children(label: str, cmd: list[str], env: dict[str, str]) -> dict[str, float]:
    """``measure``, adding the peak RSS of the child's whole process tree, sampled each second.

    A JVM that PySpark starts is not waited for, so ``wait4`` does not count it.
    """
    import threading

    peak = {"mb": 0.0}
    done = threading.Event()

    def tree_rss_mb() -> float:
        # every process below this one (dbt, and the JVM PySpark starts): parent links from /proc
        parents: dict[int, int] = {}
        rss: dict[int, int] = {}
        for status in Path("/proc").glob("[0-9]*/status"):
            try:
                fields = dict(line.split(":", 1) for line in status.read_text().splitlines() if ":" in line)
            except OSError:
                continue
            pid = int(status.parent.name)
            parents[pid] = int(fields.get("PPid", "0").strip())
            rss[pid] = int(fields.get("VmRSS", "0 kB").split()[0])
        total, me = 0, os.getpid()
        for pid in rss:
            up = parents.get(pid)
            while up and up != me:
                up = parents.get(up)
            if up == me:
                total += rss[pid]
        return total / 1024

    def watch() -> None:
        while not done.wait(1.0):
            peak["mb"] = max(peak["mb"], tree_rss_mb())

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    try:
        result = measure(label, cmd, env)
    finally:
        done.set()
        thread.join()
    result["peak_mb_with_jvm"] = round(peak["mb"], 1)
    print(f"  {'(dbt and its Spark JVM together, peak)':<48} {'':>11} {result['peak_mb_with_jvm']:>9.0f} MB")
    return result


DAILY_REPEATS = int(os.environ.get("BENCH_DAILY_REPEATS", "3"))


def bench_daily_append(raw: Path, db: Path, vars_: str, env: dict[str, str]) -> dict[str, object]:
    """Incremental runs after one daily messages file arrives, on the warehouse itself.

    The daily file repeats the history's last day one day later (about 1/600 of the rows).
    Two kinds of run, each from the full build's state: the whole project (``dbt run``) and
    the ``daily_messages`` selector (the messages model and everything downstream). Each is
    run ``BENCH_DAILY_REPEATS`` times (3) from that state and reported by its median, every
    sample kept: one daily run lasts seconds and the machine's noise is of the same order.
    The runs use the full build's warehouse path, as a daily job does (a new path would make
    dbt re-parse the project); the warehouse is restored from a copy after each (and the
    copy flushed to disk before the next run is timed), and the daily file removed, so later
    sections are unaffected.

    A run from a fresh build leaves the rows it replaced deleted but not compacted (see
    macros/compaction_policy.sql); one more selector run with ``compact_dead_row_share: 0``
    measures a daily run that also compacts, as one in every few does.
    """
    import shutil
    import statistics

    daily = raw / "apparel-messages-bench-daily.csv"
    backup = db.with_name(db.stem + "_before_daily.duckdb")
    shutil.copy(db, backup)
    read = "read_csv($src, all_varchar=true, header=true)"
    sql = (
        "copy (select * replace (strftime(cast(date as date) + 1, '%Y-%m-%d') as date, "
        "strftime(cast(created_at as timestamp) + interval 1 day, '%Y-%m-%d %H:%M:%S') as created_at) "
        f"from {read} where date = (select max(date) from {read})) to $out (header)"
    )
    params = {"src": str(raw / "apparel-messages.csv"), "out": str(daily)}
    dbt = [str(BIN / "dbt"), "run", "--vars", vars_]
    selector = [*dbt, "--selector", "daily_messages"]
    compacting_vars = vars_.rstrip("}") + ", compact_dead_row_share: 0}"
    compacting = [str(BIN / "dbt"), "run", "--vars", compacting_vars, "--selector", "daily_messages"]
    runs: dict[str, list[dict[str, float]]] = {"whole": [], "selector": [], "compacting": []}
    try:
        measure("daily file: last day + 1 (setup)", py(f"import duckdb; duckdb.execute({sql!r}, {params!r})"))
        plan = [
            ("whole", "dbt run after one daily messages file", dbt),
            ("selector", "dbt run --selector daily_messages, same file", selector),
        ]
        plan = [*plan * DAILY_REPEATS, ("compacting", "same, compacting deleted rows", compacting)]
        for kind, label, cmd in plan:
            if kind == "compacting":
                # other vars make dbt parse the project again: parse first, untimed
                parse = [str(BIN / "dbt"), "parse", "--vars", compacting_vars]
                measure("dbt parse, compacting vars (setup)", parse, env)
            os.sync()
            runs[kind].append(measure(label, cmd, env))
            shutil.copy(backup, db)
    finally:
        daily.unlink(missing_ok=True)
        if backup.exists():
            shutil.copy(backup, db)
            backup.unlink()

    def median(samples: list[dict[str, float]]) -> dict[str, object]:
        return {
            "seconds": round(statistics.median(r["seconds"] for r in samples), 2),
            "peak_mb": round(max(r["peak_mb"] for r in samples), 1),
            "samples_seconds": [r["seconds"] for r in samples],
        }

    return {
        **median(runs["whole"]),
        "selector_daily_messages": median(runs["selector"]),
        "selector_daily_messages_compacting": median(runs["compacting"]),
    }


def _bench_spec() -> Path:
    """The shipped hierarchical spec, limited to FIT_ROWS training rows."""
    import yaml

    spec = yaml.safe_load((REPO / "python" / "specs" / "purchase_90d_hierarchical.yml").read_text())
    spec["max_train_rows"] = FIT_ROWS
    spec["name"] = "bench_hierarchical"
    path = DATA / "bench_hierarchical.yml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def bench_fit(db: Path) -> dict[str, object]:
    """Hierarchical spec on FIT_ROWS rows for each inference method vs PyMC's default NUTS.

    The baseline is PyMC's own NUTS with the spec's draws, tune, chains and target_accept at
    PyMC's default float64; every other method runs the spec as shipped. ``nutpie_float64``
    isolates what the spec's single precision contributes.
    """
    path = _bench_spec()
    results: dict[str, object] = {}
    runs: list[tuple[str, list[str]]] = [
        ("pymc", ["--method", "pymc", "--precision", "float64"]),
        ("nutpie", ["--method", "nutpie"]),
        ("nutpie_float64", ["--method", "nutpie", "--precision", "float64"]),
    ]
    for extra in ("numpyro", "blackjax"):
        try:
            __import__(extra)
            runs.append((extra, ["--method", extra]))
        except ImportError:
            results[extra] = "not installed"
    for label, args in runs:
        runs_dir = DATA / f"runs_{label}"
        r = measure(
            f"fit {label} ({FIT_ROWS:,} rows, 4x1000)",
            [str(BIN / "targeting"), "fit", "--spec", str(path), "--db", str(db), *args, "--quiet"],
            {"MM_RUNS_DIR": str(runs_dir)},
        )
        fit = _fit_diagnostics(runs_dir)
        r.update(
            {
                "args": " ".join(args),
                **{k: v for k, v in fit.items() if k != "run"},
                "ess_per_second": round(fit["min_ess_bulk"] / fit["fit_seconds"], 1),  # type: ignore[operator]
            }
        )
        results[label] = r
    base = results["pymc"]
    for label, _ in runs:
        mine = results[label]
        mine["speedup_vs_pymc"] = round(base["fit_seconds"] / mine["fit_seconds"], 2)  # type: ignore[index]
        mine["wall_speedup_vs_pymc"] = round(base["seconds"] / mine["seconds"], 2)  # type: ignore[index]
        mine["ess_per_second_vs_pymc"] = round(mine["ess_per_second"] / base["ess_per_second"], 2)  # type: ignore[index]
        print(
            f"  {label}: {mine['speedup_vs_pymc']}x PyMC's fit time, {mine['wall_speedup_vs_pymc']}x its "  # type: ignore[index]
            f"wall time, {mine['ess_per_second_vs_pymc']}x its bulk ESS/s",  # type: ignore[index]
            flush=True,
        )
    return results


def bench_precision(db: Path) -> dict[str, object]:
    """The plain spec in float64 (baseline) and float32: fit diagnostics and out-of-time metrics."""
    spec = REPO / "python" / "specs" / "purchase_90d.yml"
    results: dict[str, object] = {"spec": _portable(str(spec))}
    for precision in ("float64", "float32"):
        r, metrics = _fit_and_evaluate(
            f"plain spec, {precision}", spec, db, DATA / f"runs_plain_{precision}", ["--precision", precision]
        )
        bayes = metrics["bayesian"]
        r.update(
            {
                "roc_auc": round(bayes["roc_auc"][0], 4),
                "log_loss": round(bayes["log_loss"][0], 5),
                "ece": round(bayes["ece"][0], 5),
            }
        )
        results[precision] = r
    f64, f32 = results["float64"], results["float32"]
    results["float32_speedup"] = round(f64["fit_seconds"] / f32["fit_seconds"], 2)  # type: ignore[index]
    results["roc_auc_difference"] = round(f32["roc_auc"] - f64["roc_auc"], 4)  # type: ignore[index]
    print(
        f"  float32: {results['float32_speedup']}x float64's fit time; r_hat {f32['max_r_hat']} vs "  # type: ignore[index]
        f"{f64['max_r_hat']}, ROC-AUC {f32['roc_auc']} vs {f64['roc_auc']}",  # type: ignore[index]
        flush=True,
    )
    return results


#: the apparel section's gates (issue: a Bayesian spec at least this ROC-AUC out of time,
#: beating both baselines on ROC-AUC and log loss; the spline spec's 60k-row fit within 3 min)
APPAREL_MIN_AUC = 0.785
APPAREL_MAX_FIT_SECONDS = 180.0


def bench_apparel(db: Path, raw: Path) -> dict[str, object]:
    """The shipped spline spec (python/specs/purchase_90d_splines.yml, 60,000 training rows) on
    the bench warehouse, evaluated out of time (the generated target file) against the
    baselines trained on the same rows, and the plain spec on the same rows beside it."""
    import yaml

    results: dict[str, object] = {}
    plain = yaml.safe_load((REPO / "python" / "specs" / "purchase_90d.yml").read_text())
    splines = REPO / "python" / "specs" / "purchase_90d_splines.yml"
    plain["max_train_rows"] = yaml.safe_load(splines.read_text())["max_train_rows"]
    plain["name"] = "bench_plain_same_rows"
    plain_path = DATA / "bench_plain_same_rows.yml"
    plain_path.write_text(yaml.safe_dump(plain, sort_keys=False))
    for label, spec in (("splines", splines), ("plain", plain_path)):
        runs_dir = DATA / f"runs_apparel_{label}"
        r, by_model = _fit_and_evaluate(f"{label} spec (scale 1, 60k rows)", spec, db, runs_dir)
        metrics: dict[str, dict[str, object]] = {}
        for model, values in by_model.items():
            metrics[model] = {"n_rows": values["roc_auc"][3]}
            for metric in ("roc_auc", "log_loss", "ece"):
                value, lower, upper, _ = values[metric]
                metrics[model][metric] = round(value, 5)
                if metric == "roc_auc":
                    metrics[model]["roc_auc_90ci"] = [round(lower, 4), round(upper, 4)]
        r["out_of_time"] = metrics
        results[label] = r
    mine = results["splines"]["out_of_time"]  # type: ignore[index]
    bayes, logistic, gbm = mine["bayesian"], mine["logistic_regression"], mine["gradient_boosting"]
    gates = {
        f"roc_auc >= {APPAREL_MIN_AUC}": bayes["roc_auc"] >= APPAREL_MIN_AUC,
        "roc_auc above both baselines": bayes["roc_auc"] > max(logistic["roc_auc"], gbm["roc_auc"]),
        "log_loss below both baselines": bayes["log_loss"] < min(logistic["log_loss"], gbm["log_loss"]),
        f"fit <= {APPAREL_MAX_FIT_SECONDS:g} s": results["splines"]["seconds"] <= APPAREL_MAX_FIT_SECONDS,  # type: ignore[index]
    }
    results["gates"] = gates
    # what the target file allows at best: the gap to the oracle that no feature can close
    results["ceiling"] = apparel_ceiling(db, raw)
    print(
        f"  splines: ROC-AUC {bayes['roc_auc']} (logistic {logistic['roc_auc']}, gradient boosting "
        f"{gbm['roc_auc']}, plain spec {results['plain']['out_of_time']['bayesian']['roc_auc']}); "  # type: ignore[index]
        f"log loss {bayes['log_loss']} ({logistic['log_loss']}, {gbm['log_loss']}); "
        f"fit {results['splines']['seconds']} s; gates {gates}",  # type: ignore[index]
        flush=True,
    )
    return results


#: label draws (and their seed) for the ceiling's expected ROC-AUC
CEILING_DRAWS = 100
CEILING_SEED = 20240217


def apparel_ceiling(db: Path, raw: Path) -> dict[str, object]:
    """How high an out-of-time ROC-AUC the generated target file allows, from its ground truth.

    The generator's 90-day probability depends on a client's hidden propensity z and age
    (days since the first order). Beside the oracle (the true probability), the posterior
    predictive probability under the generator's own model and true parameters, given:

    * ``true_engagement_and_orders``: the client's true engagement u (correlated with z) and
      repeat-order count, exactly. Every observable that carries information on z is a noisy
      reading of one of these (opens and clicks of u; orders, their dates and the purchase
      events of the order count, which is sufficient for z in a Poisson process of known
      shape), so no model on the mart can rank better than this, but by chance;
    * ``observed_open_rate_and_orders``: what the mart holds instead of u: the lifetime open
      rate, read through the generator's open model.

    Both integrate z over a grid (the engagement's residual sd is the generator's
    ``sqrt(1 - corr^2)``). Computed from ``customer_features`` at the scoring cutoff and
    ``ground_truth/`` beside the raw files.
    """
    import duckdb
    import numpy as np
    import pandas as pd
    from scipy.stats import binom, norm, poisson
    from sklearn.metrics import roc_auc_score

    from targeting.data.synth import interest_integral
    from targeting.data.synth.clients import sigmoid

    truth = json.loads((raw / "ground_truth" / "effects.json").read_text())
    eff = truth["effects"]
    with duckdb.connect(str(db), read_only=True) as con:
        rows = con.execute(
            "select f.client_id, f.days_since_first_order, f.orders_all, f.opens_all, f.sends_all, "
            "l.purchased_next_90d::int as y from marts.customer_features f "
            "join marts.customer_labels l using (client_id, as_of_date) "
            "where f.is_scoring_cutoff and f.has_purchase_history"
        ).df()
    clients = pd.read_parquet(raw / "ground_truth" / "clients.parquet")
    rows = rows.merge(clients[["client_id", "engagement", "p_true_90d"]], on="client_id", how="inner")
    tau = eff["interest_half_life_days"] / math.log(2)
    floor, window = eff["interest_floor"], truth["label_window_days"]
    age = rows["days_since_first_order"].to_numpy(float)
    past = interest_integral(tau, floor, np.zeros_like(age), age)
    future = interest_integral(tau, floor, age, age + window)
    repeats = np.clip(rows["orders_all"].to_numpy() - 1, 0, None)[:, None]
    z = np.linspace(-5, 5, 201)[None, :]
    rate = np.exp(eff["rate_intercept"] + eff["rate_propensity"] * z)
    rho = eff["engagement_propensity_corr"]
    resid = math.sqrt(1 - rho**2)
    base = norm.logpdf(z) + poisson.logpmf(repeats, rate * past[:, None])

    def predictive(log_weight: np.ndarray) -> np.ndarray:
        w = np.exp(log_weight - log_weight.max(axis=1, keepdims=True))
        w /= w.sum(axis=1, keepdims=True)
        out: np.ndarray = (w * (1 - np.exp(-rate * future[:, None]))).sum(axis=1)
        return out

    exact_u = predictive(base + norm.logpdf(rows["engagement"].to_numpy()[:, None], rho * z, resid))
    # the open rate: opens (capped at sends: a message can be opened twice) out of sends,
    # binomial in sigmoid(open_intercept + open_engagement u), u integrated over a grid
    u = np.linspace(-5, 5, 101)
    sends = rows["sends_all"].to_numpy()[:, None]
    opens = np.minimum(rows["opens_all"].to_numpy()[:, None], sends)
    p_open = sigmoid(eff["open_intercept"] + eff["open_engagement"] * u)
    like_u = np.exp(binom.logpmf(opens, sends, p_open[None, :]))
    like_z = like_u @ norm.pdf(u[:, None], rho * z, resid)
    observed = predictive(base + np.log(like_z + 1e-300))
    y = rows["y"].to_numpy()
    p_true = rows["p_true_90d"].to_numpy()
    # the same figures in expectation over the target's label draws (the file holds one draw;
    # its ROC-AUC varies by about +-0.01 from draw to draw)
    rng = np.random.default_rng(CEILING_SEED)
    draws = [rng.random(p_true.size) < p_true for _ in range(CEILING_DRAWS)]
    scores = {
        "oracle": p_true,
        "true_engagement_and_orders": exact_u,
        "observed_open_rate_and_orders": observed,
    }
    expected = {
        name: round(float(np.mean([roc_auc_score(d, s) for d in draws])), 4) for name, s in scores.items()
    }
    out = {
        "clients": len(rows),
        "oracle": round(float(roc_auc_score(y, p_true)), 4),
        "true_engagement_and_orders": round(float(roc_auc_score(y, exact_u)), 4),
        "observed_open_rate_and_orders": round(float(roc_auc_score(y, observed)), 4),
        f"expected_over_{CEILING_DRAWS}_label_draws": expected,
    }
    print(f"  ceiling (ROC-AUC on the target file): {out}", flush=True)
    return out


def _fit_and_evaluate(
    title: str, spec: Path, db: Path, runs_dir: Path, fit_args: list[str] | None = None
) -> tuple[dict[str, object], dict[str, dict[str, tuple[float, float, float, int]]]]:
    """``targeting fit`` of ``spec`` on ``db`` (runs in ``runs_dir``), measured, then ``targeting
    evaluate`` of that run out of time only. Returns the fit's measurement with its diagnostics,
    and the out-of-time metrics by model and metric: (value, lower, upper, rows)."""
    import duckdb

    env = {"MM_RUNS_DIR": str(runs_dir), "MM_REPORTS_DIR": str(DATA / "reports")}
    r = measure(
        f"fit {title}",
        [str(BIN / "targeting"), "fit", "--spec", str(spec), "--db", str(db), *(fit_args or []), "--quiet"],
        env,
    )
    fit = _fit_diagnostics(runs_dir)
    measure(
        f"evaluate {title} out of time (setup)",
        [str(BIN / "targeting"), "evaluate", "--run", str(fit["run"]), "--db", str(db)]
        + ["--no-held-out", "--no-report", "--quiet"],
        env,
    )
    with duckdb.connect(str(db), read_only=True) as con:
        rows = con.execute(
            "select model, metric, value, lower, upper, n_rows from ml.model_evaluations "
            "where run_id = ? and split = 'out_of_time'",
            [fit["run"]],
        ).fetchall()
    metrics: dict[str, dict[str, tuple[float, float, float, int]]] = {}
    for model, metric, value, lower, upper, n_rows in rows:
        metrics.setdefault(model, {})[metric] = (value, lower, upper, n_rows)
    r.update(fit)
    return r, metrics


def _fit_diagnostics(runs_dir: Path) -> dict[str, object]:
    """The latest run in ``runs_dir``: its id, sampling seconds and convergence diagnostics."""
    run = _latest_run(runs_dir)
    meta = json.loads((runs_dir / str(run) / "schema.json").read_text())
    d = meta["diagnostics"]
    return {
        "run": run,
        "fit_seconds": round(meta["fit_seconds"], 1),
        "max_r_hat": d["max_r_hat"],
        "min_ess_bulk": d["min_ess_bulk"],
        "divergences": d["divergences"],
    }


def _latest_run(runs_dir: Path) -> str | None:
    latest = runs_dir / "LATEST"
    return latest.read_text().strip() if latest.exists() else None


def make_score_warehouse(mart_db: Path, rows: int) -> Path:
    """A warehouse whose latest cutoff holds ``rows`` clients: the generated scale-1 scoring
    population (past buyers) repeated under new client ids, every feature unchanged.

    Built in a child process so that this process stays small: a child inherits its
    parent's resident-set high-water mark, which would inflate the children's peak memory.
    """
    out = DATA / f"score_{rows}.duckdb"
    if out.exists():
        return out
    tmp = out.with_suffix(".tmp")
    tmp.unlink(missing_ok=True)
    sql = (
        "create schema marts; "
        "create table marts.customer_features as "
        "with base as (select *, row_number() over (order by client_id) as n "
        "from src.marts.customer_features where is_scoring_cutoff and has_purchase_history) "
        "select * exclude (n) replace (k * 10000000 + n as client_id) "
        "from base, range($rows // (select count(*) from base) + 1) r(k) order by k, n limit $rows"
    )
    # scoring checks that the run's label relation exists; these clients have no labels
    labels = "create table marts.customer_labels as select * from src.marts.customer_labels limit 0"
    code = (
        f"import duckdb; c = duckdb.connect({str(tmp)!r}); c.execute('set enable_progress_bar = false'); "
        f"c.execute('attach ? as src (read_only)', [{str(mart_db)!r}]); "
        f"c.execute({sql!r}, {{'rows': {rows}}}); c.execute({labels!r})"
    )
    measure(f"make {rows:,}-client warehouse (setup)", py(code))
    tmp.rename(out)
    return out


def bench_score(mart_db: Path) -> dict[str, object]:
    """Clients per second with 1000-draw intervals at SCORE_SIZES, and Bambi's predict at 100k."""
    runs_dir = DATA / "runs_nutpie"
    run = _latest_run(runs_dir)
    if run is None:
        measure(
            "fit nutpie for scoring (setup)",
            [str(BIN / "targeting"), "fit", "--spec", str(_bench_spec()), "--db", str(mart_db), "--quiet"],
            {"MM_RUNS_DIR": str(runs_dir)},
        )
        run = _latest_run(runs_dir)
    results: dict[str, object] = {"run": run, "draws": 1000}
    env = {"MM_RUNS_DIR": str(runs_dir)}
    for label, rows, engine in [
        *[(f"{e} engine {n:,} clients", n, e) for n in SCORE_SIZES for e in ("fast", "sql")],
        ("baseline: Bambi predict, 100,000 clients", 100_000, "bambi"),
    ]:
        db = make_score_warehouse(mart_db, rows)
        cmd = [str(BIN / "targeting"), "score", "--run", str(run), "--db", str(db), "--engine", engine]
        r = measure(label, [*cmd, "--draws", "1000", "--quiet"], env)
        r["clients"] = rows
        r["clients_per_second"] = round(rows / r["seconds"])
        r["clients_per_minute"] = round(60 * rows / r["seconds"])
        if engine == "fast":
            _keep_scores(db, str(run))
        if engine == "sql":
            r["agreement_vs_fast"] = _score_agreement(db, str(run))
        results[f"{engine}_{rows}"] = r
    base = results["bambi_100000"]["clients_per_second"]  # type: ignore[index]
    for r in results.values():
        if isinstance(r, dict):
            r["speedup_vs_bambi"] = round(r["clients_per_second"] / base, 2)
    # agreement with every posterior draw (the 1,000-draw fast path has its own Monte Carlo error)
    db = make_score_warehouse(mart_db, 100_000)
    cmd = [str(BIN / "targeting"), "score", "--run", str(run), "--db", str(db), "--quiet"]
    measure("fast engine, every draw, 100,000 clients", [*cmd, "--draws", "0"], env)
    _keep_scores(db, str(run))
    measure("sql engine, 100,000 clients", [*cmd, "--engine", "sql"], env)
    results["sql_vs_every_draw_100000"] = _score_agreement(db, str(run))
    big = make_score_warehouse(mart_db, max(SCORE_SIZES))
    results["bare_scan"] = measure(
        f"baseline: bare scan of the spec's columns, {max(SCORE_SIZES):,} rows",
        py(
            f"import duckdb; c = duckdb.connect({str(big)!r}, read_only=True); "
            f"print(c.execute({_BARE_SCAN!r}).fetchone())"
        ),
    )
    statement = DATA / "score_statement.sql"
    measure(
        "compile-sql (setup)",
        [str(BIN / "targeting"), "compile-sql", "--run", str(run), "--db", str(big), "--out", str(statement)],
        env,
    )
    results["sql_statement_alone"] = measure(
        f"sql statement alone (no write, no rank), {max(SCORE_SIZES):,} rows",
        py(
            f"import duckdb; c = duckdb.connect({str(big)!r}, read_only=True); "
            f"s = open({str(statement)!r}).read(); "
            "print(c.execute(f'select count(*), sum(p_mean), sum(p_q95) from ({s})').fetchone())"
        ),
    )
    for n in SCORE_SIZES:
        sql, fast = results[f"sql_{n}"], results[f"fast_{n}"]
        sql["speedup_vs_fast"] = round(fast["seconds"] / sql["seconds"], 2)  # type: ignore[index]
        print(f"  sql engine at {n:,} clients: {sql['speedup_vs_fast']}x the fast engine's speed")  # type: ignore[index]
    return results


#: The floor for scoring: one pass over the hierarchical spec's columns at the scoring cutoff.
_BARE_SCAN = (
    "select count(*), sum(click_rate_365d + open_rate_365d + orders_30d + orders_90d + clicks_push_90d "
    "+ clicks_email_90d + avg_order_value_all + coalesce(days_since_first_order, 0)), "
    "count(distinct favourite_channel), count(distinct favourite_root_category) "
    "from marts.customer_features where has_purchase_history and as_of_date = "
    "(select max(as_of_date) from marts.customer_features)"
)


def _keep_scores(db: Path, run: str) -> None:
    """Copy the fast engine's scores aside, for the SQL engine's agreement."""
    code = (
        f"import duckdb; c = duckdb.connect({str(db)!r}); "
        "c.execute('create or replace table bench_fast_scores as select client_id, p_mean, p_sd, "
        f"p_q05, p_q95 from ml.customer_scores where run_id = ?', [{run!r}])"
    )
    subprocess.run(py(code), check=True, cwd=REPO)


def _score_agreement(db: Path, run: str) -> dict[str, float]:
    """Largest and mean absolute differences of the SQL engine's scores from the fast engine's."""
    parts = ", ".join(
        f"max(abs(s.{c} - f.{c})) as max_abs_{c}, avg(abs(s.{c} - f.{c})) as mean_abs_{c}"
        for c in ("p_mean", "p_sd", "p_q05", "p_q95")
    )
    code = (
        f"import duckdb, json; c = duckdb.connect({str(db)!r}, read_only=True); "
        f"cur = c.execute('select count(*) as rows, {parts} from ml.customer_scores s "
        f"join bench_fast_scores f using (client_id) where s.run_id = ?', [{run!r}]); "
        "print(json.dumps(dict(zip([d[0] for d in cur.description], cur.fetchone()))))"
    )
    out = subprocess.run(py(code), check=True, cwd=REPO, capture_output=True, text=True).stdout
    found = json.loads(out.strip().splitlines()[-1])
    print(
        f"  sql vs fast: p_mean max |diff| {found['max_abs_p_mean']:.2e}, "
        f"interval ends {max(found['max_abs_p_q05'], found['max_abs_p_q95']):.2e} ({found['rows']:,} clients)"
    )
    return {k: (round(v, 8) if isinstance(v, float) else v) for k, v in found.items()}


EXPERIMENT_UNITS = 64_000
EXPERIMENT_ARMS = ("no_email", "mens_email", "womens_email")


def make_experiment(path: Path, units: int = EXPERIMENT_UNITS, seed: int = 2008) -> None:
    """Write ``lab.experiment``: a three-arm e-mail experiment without an id column.

    Shaped like the public one (Hillstrom's): months since the last purchase, dollars spent
    last year, men's/women's merchandise flags, a text zip-code class and channel, a new-
    customer flag; a visit outcome near 15% whose response to each e-mail depends on the
    features (the men's e-mail moves men's buyers and recent customers more).
    """
    import duckdb
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    recency = rng.integers(1, 13, units)
    history = np.round(rng.lognormal(4.9, 0.9, units), 2)
    mens = (rng.random(units) < 0.55).astype(int)
    womens = np.where(mens == 1, (rng.random(units) < 0.2).astype(int), 1)
    zip_code = rng.choice(["Surburban", "Urban", "Rural"], units, p=[0.45, 0.4, 0.15])
    newbie = (rng.random(units) < 0.5).astype(int)
    channel = rng.choice(["Web", "Phone", "Multichannel"], units, p=[0.44, 0.44, 0.12])
    arm = rng.choice(EXPERIMENT_ARMS, units)
    z_recency = (recency - 6.5) / 3.5
    eta = -2.1 - 0.25 * z_recency + 0.2 * (np.log(history) - 4.9) - 0.3 * newbie
    eta += np.where(channel == "Multichannel", 0.25, 0.0) + np.where(zip_code == "Rural", 0.2, 0.0)
    eta += np.where(arm == "mens_email", 0.45 + 0.35 * mens - 0.2 * z_recency, 0.0)
    eta += np.where(arm == "womens_email", 0.35 + 0.3 * womens - 0.1 * newbie, 0.0)
    visit = (rng.random(units) < 1 / (1 + np.exp(-eta))).astype(int)
    frame = pd.DataFrame(
        {
            "recency": recency,
            "history": history,
            "mens": mens,
            "womens": womens,
            "zip_code": zip_code,
            "newbie": newbie,
            "channel": channel,
            "segment": arm,
            "visit": visit,
        }
    )
    path.unlink(missing_ok=True)
    with duckdb.connect(str(path)) as con:
        con.execute("create schema lab")
        con.register("frame", frame)
        con.execute("create table lab.experiment as select * from frame")


def bench_convergence() -> dict[str, object]:
    """The shipped uplift and model samplers on the 64k three-arm experiment, against the gate."""
    import yaml

    db = DATA / "experiment_64k.duckdb"
    make_experiment(db)
    shipped = yaml.safe_load((REPO / "python" / "specs" / "holdout_uplift.yml").read_text())
    uplift = {
        "name": "bench_email_uplift",
        "relation": "lab.experiment",
        "arm": "segment",
        "control": "no_email",
        "outcome": "visit",
        "features": ["recency", "log1p(history)", "mens", "womens", "newbie", "zip_code", "channel"],
        # the shipped spec's modelling and sampler settings, unchanged
        **{k: shipped[k] for k in ("holdout_share", "split_seed", "interaction_sigma", "models", "sampler")},
        "bootstrap": 20,
    }
    model = yaml.safe_load((REPO / "python" / "specs" / "purchase_90d.yml").read_text())
    fit_spec = {
        "name": "bench_email_visit",
        "relation": "lab.experiment",
        "label": "visit",
        "formula": "visit ~ scale(recency) + scale(log1p(history)) + mens + womens + newbie + zip_code"
        " + channel + segment",
        "sampler": model["sampler"],  # the shipped model spec's sampler, unchanged
    }
    results: dict[str, object] = {"units": EXPERIMENT_UNITS, "arms": list(EXPERIMENT_ARMS)}
    env = {"MM_RUNS_DIR": str(DATA / "runs_convergence"), "MM_REPORTS_DIR": str(DATA / "reports_convergence")}
    import duckdb

    # each uplift model alone: its wall time, its diagnostics and its held-out Qini per arm
    for model_name in ("two_model", "interaction"):
        path = DATA / f"bench_uplift_{model_name}_64k.yml"
        spec = {**uplift, "name": f"bench_email_uplift_{model_name}", "models": [model_name]}
        path.write_text(yaml.safe_dump(spec, sort_keys=False))
        cmd = [str(BIN / "targeting"), "uplift", "--spec", str(path), "--db", str(db), "--quiet"]
        cmd.append("--allow-failed-diagnostics")  # record the figures even when the gate fails
        r = measure(f"uplift {model_name} on the 64k three-arm experiment", cmd, env)
        with duckdb.connect(str(db), read_only=True) as con:
            run = con.execute(
                "select run_id from ml.uplift_evaluations where run_id like ? "
                "order by created_at desc limit 1",
                [f"bench_email_uplift_{model_name}-%"],
            ).fetchone()[0]
            r["diagnostics"] = con.execute(
                "select any_value(diagnostics) from ml.uplift_evaluations where run_id = ?", [run]
            ).fetchone()[0]
            r["qini_auc"] = dict(
                con.execute(
                    "select arm, value from ml.uplift_evaluations where run_id = ? and ranking = 'uplift' "
                    "and metric = 'qini_auc' order by arm",
                    [run],
                ).fetchall()
            )
        print(f"    {r['diagnostics']}; Qini AUC {r['qini_auc']}", flush=True)
        results[f"uplift_{model_name}"] = r
    two, inter = results["uplift_two_model"], results["uplift_interaction"]
    assert isinstance(two, dict) and isinstance(inter, dict)
    results["uplift_interaction_over_two_model"] = {
        "wall_time_ratio": round(inter["seconds"] / two["seconds"], 2),
        "qini_auc_difference": {
            a: round(inter["qini_auc"][a] - two["qini_auc"][a], 5) for a in two["qini_auc"]
        },
    }
    print(f"    interaction / two-model: {results['uplift_interaction_over_two_model']}", flush=True)
    path = DATA / "bench_fit_64k.yml"
    path.write_text(yaml.safe_dump(fit_spec, sort_keys=False))
    cmd = [str(BIN / "targeting"), "fit", "--spec", str(path), "--db", str(db), "--quiet"]
    r = measure("fit on the 64k three-arm experiment", cmd, env)
    r.update({k: v for k, v in _fit_diagnostics(DATA / "runs_convergence").items() if k != "run"})
    print(f"    {r}", flush=True)
    results["fit"] = r
    return results


def main() -> None:
    """Run the selected sections and write benchmarks/results.json."""
    DATA.mkdir(parents=True, exist_ok=True)
    out = REPO / "benchmarks" / "results.json"
    # sections not run this time keep their last results (same scale only)
    previous = json.loads(out.read_text()) if out.exists() else {}
    results: dict[str, object] = previous if previous.get("scale") == SCALE else {}
    results.update({"machine": {"cores": os.cpu_count()}, "scale": SCALE})
    # the convergence section makes its own table: alone, it needs no generated mart
    needs_mart = bool(set(SECTIONS) - {"convergence"})
    raw = ensure_raw() if needs_mart else DATA
    built_mart = needs_mart and ("mart" in SECTIONS or not MART_DB.exists())
    if built_mart:
        print("mart build", flush=True)
        results["mart"] = bench_mart(raw)
    elif needs_mart:
        print(f"mart build: skipped, reusing {MART_DB}", flush=True)
    if "fit" in SECTIONS:
        print("fit", flush=True)
        results["fit"] = bench_fit(MART_DB)
    if "score" in SECTIONS:
        print("score", flush=True)
        results["score"] = bench_score(MART_DB)
    if "convergence" in SECTIONS:
        print("convergence: the shipped samplers on a 64k three-arm experiment", flush=True)
        results["convergence"] = bench_convergence()
    if "precision" in SECTIONS:
        print("precision: the plain spec in float64 and float32", flush=True)
        results["precision"] = bench_precision(MART_DB)
    if "apparel" in SECTIONS:
        print("apparel: the spline spec out of time vs the baselines on the same rows", flush=True)
        results["apparel"] = bench_apparel(MART_DB, raw)
    if "spark" in SECTIONS:
        print(f"spark: the project on Spark vs DuckDB at scale {SCALE:g}", flush=True)
        results["spark"] = bench_spark(raw)
    if "scale" in SECTIONS:
        print(f"scale {BIG_SCALE:g}", flush=True)
        results["scale_up"] = bench_scale(results["mart"], same_run=built_mart)  # type: ignore[arg-type]
    out.write_text(_portable(json.dumps(results, indent=2, default=str)) + "\n")
    if built_mart:
        mart = results["mart"]
        print(
            f"\nmart: dbt run {mart['dbt_run']['seconds']} s = {mart['ratio_vs_floor']}x the bare scan, "  # type: ignore[index]
            f"{mart['ratio_vs_pandas']}x the pandas baseline"  # type: ignore[index]
        )
    print(f"results: {out}")


if __name__ == "__main__":
    main()
