"""Column meanings are written once: shared ones live in dbt ``{% docs %}`` blocks.

A column whose name and meaning recur across models and sources (the staging models of the
``ml`` tables repeat the source's columns; marts repeat staging's) names a block in
``models/docs/columns.md`` with ``doc('<name>')``, so every layer reads the same words and
``dbt docs generate`` shows them.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from pathlib import Path

import pytest
import yaml

from .conftest import REPO

MODELS = REPO / "models"
DOC_REF = re.compile(r"""\{\{\s*doc\(\s*['"]([A-Za-z0-9_]+)['"]\s*\)\s*\}\}""")


def _column_descriptions() -> list[tuple[str, str, str]]:
    """(file, column, description as written) of every column in the YAML under models/."""
    out = []
    for path in sorted(MODELS.rglob("*.yml")):
        data = yaml.safe_load(path.read_text()) or {}
        for kind in ("models", "sources"):
            for entry in data.get(kind) or []:
                for table in entry.get("tables", []) if kind == "sources" else [entry]:
                    for col in table.get("columns") or []:
                        if isinstance(col.get("description"), str):
                            out.append((path.name, col["name"], " ".join(col["description"].split())))
    return out


def _blocks() -> dict[str, str]:
    text = "\n".join(p.read_text() for p in MODELS.rglob("*.md"))
    return {
        m.group(1): m.group(2).strip() for m in re.finditer(r"{% docs (\w+) %}(.*?){% enddocs %}", text, re.S)
    }


def test_no_column_meaning_is_written_out_twice() -> None:
    seen: dict[tuple[str, str], list[str]] = defaultdict(list)
    for where, column, text in _column_descriptions():
        if not DOC_REF.fullmatch(text):
            seen[(column, text)].append(where)
    repeated = {key: where for key, where in seen.items() if len(where) > 1}
    assert repeated == {}, "write these once as a {% docs %} block: " + str(list(repeated)[:5])


def test_every_doc_reference_names_a_block_and_every_block_is_used() -> None:
    blocks = _blocks()
    used = {m.group(1) for _, _, text in _column_descriptions() for m in [DOC_REF.fullmatch(text)] if m}
    assert used - set(blocks) == set()
    assert set(blocks) - used == set()
    assert all(blocks.values())


@pytest.mark.slow
def test_the_parsed_project_shows_every_meaning_in_words(dbt_manifest: Path) -> None:
    manifest = json.loads(dbt_manifest.read_text())
    blocks = _blocks()
    nodes = {**manifest["nodes"], **manifest["sources"]}
    columns = [
        (uid, name, col) for uid, node in nodes.items() for name, col in node.get("columns", {}).items()
    ]
    assert not [(uid, name) for uid, name, col in columns if "{{" in (col.get("description") or "")]
    # a shared meaning reads the same in the source, its staging model and the mart
    client = {
        col["description"] for _, name, col in columns if name == "client_id" and col.get("description")
    }
    assert blocks["client_id"] in client
