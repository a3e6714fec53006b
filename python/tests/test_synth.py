"""The generator writes the public dataset's exact layout, with realistic signal."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from targeting.core import layout
from targeting.data.synth import SynthConfig, generate

#: Read a raw CSV as text; the path is the bound parameter.
READ_CSV = "select * from read_csv(?, all_varchar=true)"


def _header(path: Path) -> list[str]:
    return path.read_text().split("\n", 1)[0].split(",")


def test_headers_match_the_real_files(synth_raw: Path, samples: Path) -> None:
    for name in layout.RAW_FILES:
        real = samples / f"{name}_sample.csv"
        assert _header(synth_raw / f"{name}.csv") == _header(real), name


def test_values_have_the_real_quirks(synth_raw: Path) -> None:
    con = duckdb.connect()
    p = con.execute(READ_CSV, [str(synth_raw / f"{layout.PURCHASES}.csv")]).df()
    assert p["client_id"].str.fullmatch(r"\d{19}").all()
    assert {"[]", "[None]"} <= set(p["category_ids"])
    listed = p.loc[~p["category_ids"].isin(["[]", "[None]"]), "category_ids"]
    assert listed.str.fullmatch(r"\['\d+'(, '\d+')*\]").all()
    assert p["price"].str.fullmatch(r"\d+\.0").all()
    dup_share = p.duplicated(keep="first").mean()
    assert 0.25 < dup_share < 0.45, dup_share  # real: 36%
    parts = p["message_id"].str.split("-", expand=True)
    assert parts[2].str.fullmatch(r"[0-9a-f]{13}").all()
    mismatch = (parts[0] != p["client_id"]).mean()
    assert 0.15 < mismatch < 0.4, mismatch  # real: 27.5% of rows
    m = con.execute(READ_CSV, [str(synth_raw / f"{layout.MESSAGES}.csv")]).df()
    assert m.duplicated().sum() > 0  # exact duplicate rows, as in the export
    assert set(m["channel"]) == {"email", "mobile_push"}
    shares = m["event"].value_counts(normalize=True)
    assert 0.6 < shares["send"] < 0.8 and 0.15 < shares["open"] < 0.35  # real: 71% / 24%
    assert m["created_at"].str.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d").all()
    assert (m["created_at"].str[:10] == m["date"]).all()
    t = pd.read_csv(synth_raw / f"{layout.TARGETS}.csv", dtype=str)
    assert set(t["client_id"]) == set(p["client_id"])  # the target set is the buyers, as in reality


def test_label_rate_and_oracle_auc_are_realistic(synth_raw_scale_01: Path) -> None:
    tmp_path = synth_raw_scale_01  # `targeting synth --scale 0.1`, shared by the run
    truth = json.loads((tmp_path / "ground_truth" / "effects.json").read_text())
    assert 0.012 < truth["label_rate"] < 0.03, truth  # real: 1.93%
    assert 0.72 < truth["oracle_auc"] < 0.88, truth  # near 0.8, not 0.99
    clients = pd.read_parquet(tmp_path / "ground_truth" / "clients.parquet")
    buyers = clients[clients["is_buyer"]]
    assert roc_auc_score(buyers["label"], buyers["p_true_90d"]) == pytest.approx(truth["oracle_auc"])


def test_same_seed_same_bytes_other_seed_other_data(tmp_path: Path) -> None:
    def digest(folder: Path) -> str:
        h = hashlib.sha256()
        for name in layout.RAW_FILES:
            h.update((folder / f"{name}.csv").read_bytes())
        return h.hexdigest()

    for name, seed in (("a", 11), ("b", 11), ("c", 12)):
        generate(SynthConfig(scale=0.01, seed=seed, out=tmp_path / name), progress=False)
    assert digest(tmp_path / "a") == digest(tmp_path / "b")
    assert digest(tmp_path / "a") != digest(tmp_path / "c")


def test_parquet_holds_the_same_rows_as_csv(tmp_path: Path) -> None:
    for fmt in ("csv", "parquet"):
        generate(SynthConfig(scale=0.01, seed=5, out=tmp_path / fmt, fmt=fmt), progress=False)
    con = duckdb.connect()
    for name in layout.RAW_FILES:
        a = con.execute(READ_CSV + " order by all", [str(tmp_path / "csv" / f"{name}.csv")]).fetchall()
        b = con.execute(
            "select columns(*)::varchar from read_parquet(?) order by all",
            [str(tmp_path / "parquet" / f"{name}.parquet")],
        ).fetchall()
        assert a == b, name


def test_ab_assignments_have_a_random_control_group(synth_raw: Path) -> None:
    ab = pd.read_csv(synth_raw / f"{layout.ASSIGNMENTS}.csv", dtype={"client_id": str})
    assert list(ab.columns) == ["client_id", "bulk_campaign_id", "variant", "assigned_at"]
    assert set(ab["variant"]) == {"control", "treatment"}
    assert 0.1 < (ab["variant"] == "control").mean() < 0.3
    con = duckdb.connect()
    control = ab[ab["variant"] == "control"]
    sent = con.execute(
        "select distinct client_id::varchar as client_id, bulk_campaign_id from "
        "read_csv(?, all_varchar=true)",
        [str(synth_raw / f"{layout.MESSAGES}.csv")],
    ).df()
    sent["bulk_campaign_id"] = sent["bulk_campaign_id"].astype(int)
    hits = control.merge(sent, on=["client_id", "bulk_campaign_id"])
    assert hits.empty, "control clients must receive no message of their campaign"
    truth = pd.read_parquet(synth_raw / "ground_truth" / "ab_true_uplift.parquet")
    assert truth["true_uplift"].std() > 0  # the effect varies with client traits


def test_bad_scale_is_refused() -> None:
    with pytest.raises(ValueError, match="--scale"):
        SynthConfig(scale=0)
    assert re.search(r"--format", str(pytest.raises(ValueError, SynthConfig, fmt="xlsx").value))
