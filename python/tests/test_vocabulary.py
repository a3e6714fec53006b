"""The domain vocabulary is defined once: an event type added there flows to customer_features.

``vars.vocabulary`` (dbt_project.yml) drives the SQL models' loops; ``targeting vocabulary
sync`` writes the column lists it derives into the YAML, which cannot loop (customer_features'
enforced contract, the column docs).
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import duckdb
import pytest
import yaml

from targeting.cli import main as cli
from targeting.data.vocabulary import BEGIN, REGIONS, VocabularyError, derived_columns, read_vocabulary, sync

from .conftest import _MANIFESTS, NO_TESTS, REPO, fingerprints, run_dbt_in_process


def _copy_project(dest: Path) -> Path:
    """The dbt project's files (models, macros, seeds, tests, the two YAML files) under ``dest``."""
    dest.mkdir()
    for folder in ("models", "macros", "seeds", "tests"):
        shutil.copytree(REPO / folder, dest / folder)
    for name in ("dbt_project.yml", "profiles.yml", "selectors.yml"):
        if (REPO / name).exists():
            shutil.copy(REPO / name, dest / name)
    return dest


def _set_vocabulary(project: Path, edit: object) -> None:
    """Apply ``edit`` (a function of the vocabulary mapping) to the copy's dbt_project.yml."""
    path = project / "dbt_project.yml"
    doc = yaml.safe_load(path.read_text())
    edit(doc["vars"]["vocabulary"])  # type: ignore[operator]
    path.write_text(yaml.safe_dump(doc, sort_keys=False))


def test_the_committed_yaml_lists_what_the_vocabulary_derives(capsys: pytest.CaptureFixture[str]) -> None:
    assert sync(REPO, check=True) == []
    assert cli.main(["vocabulary", "sync", "--check"]) == 0
    assert "up to date" in capsys.readouterr().out


@pytest.mark.slow
def test_the_built_models_have_exactly_the_documented_columns(warehouse: Path) -> None:
    """Every column of the models the vocabulary feeds is listed in their YAML, and no other:
    the Python rules and the models' Jinja loops derive the same names."""
    documented: dict[str, set[str]] = {}
    for rel, model in REGIONS:
        for entry in yaml.safe_load((REPO / rel).read_text())["models"]:
            if entry["name"] == model:
                documented[model] = {c["name"] for c in entry["columns"]}
    derived = derived_columns(read_vocabulary(REPO))
    schemas = {"customer_features": "marts", "campaign_holdout_features": "marts"}
    with duckdb.connect(str(warehouse), read_only=True) as con:
        for model, names in documented.items():
            schema = schemas.get(model, "intermediate")
            built = {r[0] for r in con.execute(f'describe "{schema}"."{model}"').fetchall()}
            assert built == names, (model, built ^ names)
            assert {c.name for c in derived[model]} <= built, model


@pytest.mark.slow
def test_a_new_event_type_flows_to_customer_features(synth_raw: Path, tmp_path: Path) -> None:
    """Add ``closes: close`` (push notifications dismissed) to the vocabulary of a copy of the
    project: the build stops at customer_features naming the new columns and the command;
    after `targeting vocabulary sync` it builds, and the new columns count the events."""
    project = _copy_project(tmp_path / "project")
    raw = tmp_path / "raw"
    shutil.copytree(synth_raw, raw)
    # every open also arrives as a close (a daily file): the close counts must equal the opens'
    with duckdb.connect() as con:
        con.execute(
            "copy (select * replace ('close' as event) from read_csv($src, all_varchar=true) "
            "where event = 'open') to $out (header)",
            {"src": str(raw / "apparel-messages.csv"), "out": str(raw / "apparel-messages-closes.csv")},
        )
    _set_vocabulary(project, lambda v: v["counted_events"].update(closes="close"))
    db = tmp_path / "wh.duckdb"
    vars_ = {"raw_path": str(raw)}
    select = ["--select", "+customer_features", "--exclude", *NO_TESTS]

    res = run_dbt_in_process(["build", *select], db, vars_, project=project)
    assert res.returncode != 0
    assert (
        "customer_features: var vocabulary derives columns its YAML does not list: closes_30d" in res.stdout
    )
    assert "Run `targeting vocabulary sync`" in res.stdout

    assert cli.main(["vocabulary", "sync", "--project", str(project), "--check"]) == 1
    assert cli.main(["vocabulary", "sync", "--project", str(project)]) == 0
    assert sync(project, check=True) == []
    for key in [k for k in _MANIFESTS if k[0] == str(project)]:
        del _MANIFESTS[key]  # the YAML changed: parse again
    res = run_dbt_in_process(["build", *select], db, vars_, project=project)
    assert res.returncode == 0, res.stdout[-3000:]

    windows = [f"{d}d" for d in read_vocabulary(project)["engagement_windows"]] + ["all"]
    pairs = [(f"closes_{w}", f"opens_{w}" if w != "all" else "opens_all") for w in windows]
    pairs += [("closes_email_90d", "opens_email_90d"), ("closes_push_90d", "opens_push_90d")]
    with duckdb.connect(str(db), read_only=True) as con:
        checks = ", ".join(f"count(*) filter (where {a} is distinct from {b})" for a, b in pairs)
        differing = con.execute(f"select {checks}, sum(closes_all) from marts.customer_features").fetchone()
    assert differing[:-1] == (0,) * len(pairs), dict(zip(pairs, differing, strict=False))
    assert differing[-1] > 0
    # documented and range-tested like the other counts
    cf = next(m for m in yaml.safe_load((project / REGIONS[2][0]).read_text())["models"])
    closes = {c["name"]: c for c in cf["columns"] if c["name"].startswith("closes_")}
    assert set(closes) == {p[0] for p in pairs}
    assert closes["closes_30d"]["data_type"] == "bigint" and "accepted_range" in str(closes["closes_30d"])
    assert (
        "Closes over every channel in the 30 days"
        in (project / "models/docs/vocabulary_columns.md").read_text()
    )

    # one more event type: the next incremental run stops at the first stored table that lacks
    # its columns, names them and the full refresh, and changes nothing
    _set_vocabulary(project, lambda v: v["counted_events"].update(subscribes="subscribe"))
    assert cli.main(["vocabulary", "sync", "--project", str(project)]) == 0
    for key in [k for k in _MANIFESTS if k[0] == str(project)]:
        del _MANIFESTS[key]
    before = fingerprints(db)
    res = run_dbt_in_process(
        ["build", "--select", "int_client_engagement_accumulated"], db, vars_, project=project
    )
    assert res.returncode != 0
    assert (
        "int_client_engagement_accumulated: its stored table lacks columns var vocabulary now derives: "
        "cum_subscribes_email, cum_subscribes_push" in res.stdout
    ), res.stdout[-3000:]
    assert "dbt build --full-refresh --select int_client_engagement_accumulated+" in res.stdout
    assert fingerprints(db) == before


BAD_VOCABULARIES = {
    "not a mapping": (
        lambda v: v.clear() or v.update(counted_events="sends"),
        "counted_events must be a non-empty mapping",
    ),
    "name holding SQL": (
        lambda v: v["counted_events"].update({"x; drop table y": "send"}),
        "has x; drop table y: send; expected lowercase words",
    ),
    "window missing 90": (lambda v: v.update(engagement_windows=[30, 365]), "engagement_windows lacks 90"),
    "windows not ascending": (
        lambda v: v.update(order_windows=[90, 30, 365]),
        "order_windows has 30; expected whole days",
    ),
    "a column derived twice": (
        lambda v: v["flag_events"].update(opens_email="hbq_spam"),
        "derives column cum_opens_email twice in int_client_engagement_accumulated",
    ),
    "window that is infinite": (
        lambda v: v.update(order_windows=[30, 90, float("inf")]),
        "order_windows has inf",
    ),
    "an event that is also a flag": (
        lambda v: v["flag_events"].update(sends="send"),
        "sends is both a counted and a flag event",
    ),
}


@pytest.mark.parametrize("case", list(BAD_VOCABULARIES))
def test_a_bad_vocabulary_is_refused_by_name_and_nothing_is_written(
    case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    edit, message = BAD_VOCABULARIES[case]
    project = tmp_path / "project"
    project.mkdir()
    shutil.copy(REPO / "dbt_project.yml", project / "dbt_project.yml")
    shutil.copytree(REPO / "models", project / "models")
    before = {p: p.read_text() for p in project.rglob("*.yml")}
    _set_vocabulary(project, edit)
    before[project / "dbt_project.yml"] = (project / "dbt_project.yml").read_text()
    assert cli.main(["vocabulary", "sync", "--project", str(project)]) == 2
    err = capsys.readouterr().err
    assert message in err and "dbt_project.yml" in err, err
    assert {p: p.read_text() for p in project.rglob("*.yml")} == before


def test_a_project_option_that_is_no_project_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a_file = tmp_path / "dbt_project.yml"
    a_file.write_text("keep: me")
    for project, message in [
        (tmp_path / "nowhere", "no such folder (expected the dbt project's folder)"),
        (a_file, "no such folder (expected the dbt project's folder)"),
        (tmp_path, "no dbt_project.yml there"),
    ]:
        if project == tmp_path:
            a_file.unlink()
        assert cli.main(["vocabulary", "sync", "--project", str(project)]) == 2
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err, err


def test_a_yaml_without_its_region_is_named(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    shutil.copy(REPO / "dbt_project.yml", project / "dbt_project.yml")
    shutil.copytree(REPO / "models", project / "models")
    path = project / "models/marts/customer_features.yml"
    path.write_text(path.read_text().replace(BEGIN, "# a comment"))
    with pytest.raises(VocabularyError, match=re.escape(f"{path}: model customer_features has no region")):
        sync(project)
    with pytest.raises(VocabularyError, match="no dbt_project.yml there"):
        sync(tmp_path)
