"""``targeting segment``: planted customer types are recovered; runs are reproducible; the
segment tables are staged, tested and joined into ``marts.segment_profiles`` by dbt."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
import yaml
from sklearn.metrics import adjusted_rand_score

from targeting.cli import main as cli
from targeting.segments.kmeans import elbow_k

from .conftest import REPO, check_page_in_chromium, run_dbt_in_process, scoring_population, table_warehouse

#: Planted customer types: mean orders, mean spend per order, recency (days), open rate, share of push.
TYPES = {
    "loyal": (12.0, 80.0, 10.0, 0.6, 0.2),
    "big_ticket": (2.0, 600.0, 60.0, 0.3, 0.1),
    "lapsed": (1.0, 60.0, 400.0, 0.05, 0.5),
    "app_browsers": (4.0, 50.0, 30.0, 0.2, 0.9),
}


def planted_customers(n_per_type: int = 400, seed: int = 3) -> pd.DataFrame:
    """A plain customer table (text ids, no dates) whose rows come from four planted types."""
    rng = np.random.default_rng(seed)
    frames = []
    for name, (orders, spend, recency, open_rate, push) in TYPES.items():
        n = n_per_type
        frames.append(
            pd.DataFrame(
                {
                    "planted_type": name,
                    "orders": rng.poisson(orders, n),
                    "avg_spend": rng.lognormal(np.log(spend), 0.25, n),
                    "recency_days": rng.gamma(8.0, recency / 8.0, n),
                    "open_rate": np.clip(rng.normal(open_rate, 0.05, n), 0, 1),
                    "push_share": np.clip(rng.normal(push, 0.08, n), 0, 1),
                }
            )
        )
    frame = pd.concat(frames, ignore_index=True).sample(frac=1.0, random_state=seed).reset_index(drop=True)
    frame.insert(0, "member_code", [f"M-{i:05d}" for i in range(len(frame))])
    return frame


def _spec(folder: Path, **changes: object) -> Path:
    raw = {
        "name": "planted",
        "relation": "shop.members",
        "id": "member_code",
        "features": ["orders", "avg_spend", "recency_days", "open_rate", "push_share"],
        "k": "auto",
        "k_range": [2, 7],
        "seed": 9,
    }
    raw.update(changes)
    path = folder / f"segments_{len(list(folder.glob('segments_*')))}.yml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


@pytest.fixture
def members(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, pd.DataFrame]:
    monkeypatch.setenv("MM_REPORTS_DIR", str(tmp_path / "reports"))
    frame = planted_customers()
    db = tmp_path / "members.duckdb"
    with duckdb.connect(str(db)) as con:
        con.execute("create schema shop")
        # two constant columns and one holding an infinite value, for the refusals below
        con.execute(
            "create table shop.members as select *, 1.0 as const_a, 2.0 as const_b, "
            "case when member_code = 'M-00003' then 'inf'::double else 1.0 end as spiky, "
            "date '2024-01-01' as joined_on from frame"
        )
    return db, frame


def _clusters(db: Path) -> pd.DataFrame:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute("select * from ml.customer_clusters order by run_id, client_id").df()


def test_planted_types_are_recovered(members: tuple[Path, pd.DataFrame], tmp_path: Path) -> None:
    db, frame = members
    spec = _spec(tmp_path)
    assert cli.main(["segment", "--spec", str(spec), "--db", str(db), "--quiet"]) == 0
    with duckdb.connect(str(db), read_only=True) as con:
        run = con.execute("select * from ml.segment_runs").df().iloc[0]
        profiles = con.execute("select * from ml.cluster_profiles").df()
    assert run["k"] == 4 and run["k_method"] == "silhouette"
    clusters = _clusters(db).merge(frame, left_on="client_id", right_on="member_code")
    assert len(clusters) == len(frame)
    ari = adjusted_rand_score(clusters["planted_type"], clusters["cluster"])
    print(f"adjusted Rand index {ari:.3f}")
    assert ari > 0.9, ari
    # clusters are numbered by size and the profile means are the members' means
    sizes = clusters["cluster"].value_counts().sort_index()
    assert (np.diff(sizes.to_numpy()) <= 0).all()
    one = profiles[(profiles["cluster"] == 1) & (profiles["feature"] == "orders")].iloc[0]
    assert one["mean_value"] == pytest.approx(clusters.loc[clusters["cluster"] == 1, "orders"].mean())
    check_page_in_chromium(tmp_path / "reports" / "segments" / run["run_id"] / "report.html", "segments")

    # the same spec and rows give the same run and the same clusters
    before = _clusters(db)
    assert cli.main(["segment", "--spec", str(spec), "--db", str(db), "--quiet"]) == 0
    pd.testing.assert_frame_equal(_clusters(db), before)

    # --k overrides the spec; a new run sits beside the first
    assert cli.main(["segment", "--spec", str(spec), "--db", str(db), "--k", "3", "--quiet"]) == 0
    with duckdb.connect(str(db), read_only=True) as con:
        runs = con.execute("select k, k_method from ml.segment_runs order by k").fetchall()
    assert runs == [(3, "given"), (4, "silhouette")]


def test_a_text_feature_is_a_category_the_clusters_can_follow(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two plans whose spend overlaps: with the plan (text) as a feature the clusters follow it,
    without it they cannot; the profiles give each level's share per cluster."""
    rng = np.random.default_rng(4)
    n = 600
    plan = np.where(np.arange(n) % 2 == 0, "basic", "premium")
    frame = pd.DataFrame(
        {
            "plan": plan,
            "spend": rng.normal(np.where(plan == "basic", 10.0, 11.0), 2.0),
            "visits": rng.normal(5.0, 1.0, n),
        }
    )
    db = table_warehouse(tmp_path, monkeypatch, "shop.accounts", frame, "accounts")
    aris, level_shares = {}, None
    for features in (["spend", "visits", "plan"], ["spend", "visits"]):
        spec = _spec(tmp_path, relation="shop.accounts", id=None, features=features, k=2)
        assert cli.main(["segment", "--spec", str(spec), "--db", str(db), "--quiet"]) == 0
        with duckdb.connect(str(db), read_only=True) as con:
            # the run of these features (created_at has whole seconds: two runs can share one)
            run_id = con.execute(
                "select run_id from ml.segment_runs where features = ?", [", ".join(features)]
            ).fetchone()[0]
            clusters = con.execute(
                "select client_id, cluster from ml.customer_clusters where run_id = ?", [run_id]
            ).df()
            profiles = con.execute("select * from ml.cluster_profiles where run_id = ?", [run_id]).df()
        # the row key is the order of all columns (plan, spend, visits): recompute it to join
        keyed = frame.sort_values(list(frame.columns), kind="stable").assign(
            client_id=[f"row-{i}" for i in range(1, n + 1)]
        )
        both = clusters.merge(keyed, on="client_id")
        assert len(both) == n
        aris[len(features)] = adjusted_rand_score(both["plan"], both["cluster"])
        if "plan" in features:
            level_shares = profiles[profiles["feature"].str.startswith("plan=")].pivot(
                index="cluster", columns="feature", values="mean_value"
            )
    print(aris, level_shares)
    assert aris[3] > 0.95 and aris[2] < 0.3, aris
    # each cluster is almost all one plan: its level's share in the cluster's profile
    assert level_shares is not None and list(level_shares.columns) == ["plan=basic", "plan=premium"]
    assert level_shares.max(axis=1).min() > 0.95, level_shares


def test_elbow_is_the_bend_of_the_inertia_curve() -> None:
    ks = np.arange(2, 9)
    inertia = np.array([100.0, 60.0, 25.0, 22.0, 20.0, 19.0, 18.0])
    assert elbow_k(ks, inertia) == 4


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        (
            {"features": ["orders", "joined_on"]},
            "feature column 'joined_on' of shop.members is DATE; expected numbers or text",
        ),
        ({"features": ["orders", "basket"]}, "feature column 'basket' is not a column of shop.members"),
        ({"k": 1}, "k must be auto or a whole number >= 2, got 1"),
        ({"features": ["orders"]}, "features needs at least two columns"),
        ({"k_range": [5, 3]}, "k_range must be [low, high] with 2 <= low < high"),
        ({"filter": "orders > 1; drop table shop.members"}, "filter"),
        ({"id": "orders", "features": ["avg_spend", "open_rate"], "filter": "orders = 1"}, "appears twice"),
        (
            {"filter": "member_code < 'M-00012'", "k_range": [20, 30]},
            "k_range [20, 30] starts at 20 clusters, but k is chosen on 12 rows of shop.members",
        ),
        ({"k": 15, "filter": "member_code < 'M-00012'"}, "k=15 needs more than the 12 rows of shop.members"),
        ({"features": ["const_a", "const_b"]}, "every feature column of shop.members has one value"),
        ({"features": ["orders", "spiky"]}, "column 'spiky' holds 1 infinite value(s)"),
    ],
)
def test_bad_segment_specs_are_refused(
    members: tuple[Path, pd.DataFrame],
    tmp_path: Path,
    capsys: pytest.CaptureFixture,
    changes: dict,
    expected: str,
) -> None:
    db, frame = members
    spec = _spec(tmp_path, **changes)
    assert cli.main(["segment", "--spec", str(spec), "--db", str(db), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert expected in err, err
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute("select count(*) from shop.members").fetchone()[0] == len(frame)


@pytest.mark.slow
def test_segment_profiles_mart_on_the_apparel_mart(
    warehouse: Path, tmp_path: Path, synth_raw: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "wh.duckdb"
    shutil.copy(warehouse, db)
    monkeypatch.setenv("MM_REPORTS_DIR", str(tmp_path / "reports"))
    # the shared build's manifest resolves the spec's dbt model name (dbt in this process: no
    # start-up or parse of its own)
    monkeypatch.setenv("MM_DBT_MANIFEST", str(warehouse.parent / "target" / "manifest.json"))
    spec = REPO / "python" / "specs" / "segments.yml"
    assert cli.main(["segment", "--spec", str(spec), "--db", str(db), "--k", "4", "--quiet"]) == 0
    res = run_dbt_in_process(
        ["build", "--select", "staging.ml", "segment_profiles"], db, {"raw_path": str(synth_raw)}
    )
    assert res.returncode == 0, res.stdout[-4000:]
    with duckdb.connect(str(db), read_only=True) as con:
        mart = con.execute("select * from marts.segment_profiles order by cluster").df()
    assert list(mart["cluster"]) == [1, 2, 3, 4]
    assert mart["n_clients"].sum() == scoring_population(db)
    assert mart["share_of_clients"].sum() == pytest.approx(1.0)
    # the latest cutoff's buyers have labels from the target file: every cluster has a purchase rate
    assert mart["purchase_rate"].notna().all() and (mart["n_labelled"] == mart["n_clients"]).all()
    assert mart["top_features"].str.count(",").eq(2).all()
    means = json.loads(mart.loc[0, "feature_means"])
    with duckdb.connect(str(db), read_only=True) as con:
        expected = con.execute(
            "select avg(f.orders_365d) from ml.customer_clusters as c "
            "join marts.customer_features as f "
            "on c.client_id = cast(f.client_id as varchar) and c.as_of_date = f.as_of_date "
            "where c.cluster = 1"
        ).fetchone()[0]
    assert means["orders_365d"] == pytest.approx(expected, abs=1e-4)


def test_missing_feature_values_follow_the_specs_policy(
    members: tuple[Path, pd.DataFrame], tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """Segments share the missing-value policy: the default imputes the median (every member
    clustered, the planted types still found); ``drop`` leaves those members out, counted."""
    db, frame = members
    with duckdb.connect(str(db)) as con:
        con.execute("update shop.members set avg_spend = null where member_code < 'M-00080'")
    assert cli.main(["segment", "--spec", str(_spec(tmp_path)), "--db", str(db), "--quiet"]) == 0
    clusters = _clusters(db).merge(frame, left_on="client_id", right_on="member_code")
    assert len(clusters) == len(frame)
    assert adjusted_rand_score(clusters["planted_type"], clusters["cluster"]) > 0.85
    dropping = _spec(tmp_path, k=4, missing={"columns": {"avg_spend": "drop"}})
    assert cli.main(["segment", "--spec", str(dropping), "--db", str(db)]) == 0
    assert "(80 dropped for a missing feature)" in capsys.readouterr().err
    with duckdb.connect(str(db), read_only=True) as con:
        counts = con.execute(
            "select runs.n_rows, count(*) from ml.customer_clusters as clusters "
            "join ml.segment_runs as runs using (run_id) group by runs.n_rows order by 1"
        ).fetchall()
    assert counts == [(len(frame) - 80, len(frame) - 80), (len(frame), len(frame))], counts


def test_a_table_without_ids_gets_a_stable_row_key(
    members: tuple[Path, pd.DataFrame], tmp_path: Path
) -> None:
    """No id column: each row is keyed by its place in the order of its feature values, so the
    same rows in another order get the same keys and the same clusters."""
    db, frame = members
    features = ["orders", "avg_spend", "recency_days", "open_rate", "push_share"]
    with duckdb.connect(str(db)) as con:
        con.execute(f"create table shop.anon as select {', '.join(features)} from shop.members")
        shuffled = f"select {', '.join(features)} from shop.members order by hash(member_code)"
        con.execute(f"create table shop.anon_shuffled as {shuffled}")
    for name in ("anon", "anon_shuffled"):
        spec = _spec(tmp_path, name=name, relation=f"shop.{name}", id=None, k=4)
        spec.write_text(spec.read_text().replace("id: null\n", ""))
        assert cli.main(["segment", "--spec", str(spec), "--db", str(db), "--quiet"]) == 0
    with duckdb.connect(str(db), read_only=True) as con:
        rows = con.execute(
            "select runs.spec_name, clusters.client_id, clusters.cluster "
            "from ml.customer_clusters as clusters join ml.segment_runs as runs using (run_id)"
        ).df()
    plain, shuffled = (
        rows[rows["spec_name"] == n].drop(columns="spec_name") for n in ("anon", "anon_shuffled")
    )
    assert len(plain) == len(frame) and plain["client_id"].str.fullmatch(r"row-\d+").all()
    both = plain.merge(shuffled, on="client_id", suffixes=("", "_shuffled"))
    assert len(both) == len(frame) and (both["cluster"] == both["cluster_shuffled"]).all()
