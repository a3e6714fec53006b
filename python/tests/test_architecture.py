"""The package's shape: one subpackage per capability, imports that flow one way.

Read from the source (no module is imported): every ``import`` and ``from ... import`` in
``python/targeting``, wherever it sits (lazy imports inside functions included), except those
under ``if TYPE_CHECKING:``, which only the type checker follows.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "targeting"
SUBPACKAGES = {"core", "models", "experiments", "uplift", "segments", "value", "reports", "data", "cli"}
#: the modules holding a command's logic: a report may not import them
COMMANDS = {
    "targeting.models.fit",
    "targeting.models.score",
    "targeting.models.evaluate",
    "targeting.models.compare",
    "targeting.experiments.abtest",
    "targeting.experiments.lift",
    "targeting.experiments.plan",
    "targeting.uplift.model",
    "targeting.segments.kmeans",
    "targeting.value.clv",
    "targeting.data.export",
    "targeting.data.validate",
}


def _module(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _runtime_imports(tree: ast.AST) -> list[tuple[str, list[str]]]:
    """(module, imported names) of every import outside ``if TYPE_CHECKING:`` blocks."""
    found: list[tuple[str, list[str]]] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [a.name for a in node.names]
            found.append((node.module, names))
            # `from targeting.pkg import mod` imports the module targeting.pkg.mod
            found.extend(
                (f"{node.module}.{n}", [])
                for n in names
                if (PACKAGE.parent / node.module.replace(".", "/") / f"{n}.py").exists()
            )
        elif isinstance(node, ast.Import):
            found.extend((a.name, []) for a in node.names)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return [(m, n) for m, n in found if m == "targeting" or m.startswith("targeting.")]


def _graph() -> dict[str, list[tuple[str, list[str]]]]:
    return {_module(p): _runtime_imports(ast.parse(p.read_text())) for p in sorted(PACKAGE.rglob("*.py"))}


def _subpackage(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 2 or (len(parts) == 2 and parts[1] in SUBPACKAGES) else "(top)"


def test_every_module_lives_in_a_capability_subpackage() -> None:
    top = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert top == ["__init__.py"]
    assert {p.name for p in PACKAGE.iterdir() if p.is_dir() and not p.name.startswith("__")} == SUBPACKAGES


def test_the_core_imports_only_the_core() -> None:
    bad = [
        (m, dep)
        for m, deps in _graph().items()
        if _subpackage(m) == "core"
        for dep, _ in deps
        if _subpackage(dep) not in ("core", "(top)")
    ]
    assert bad == []


def test_only_the_command_line_imports_the_command_line() -> None:
    bad = [
        (m, dep)
        for m, deps in _graph().items()
        if _subpackage(m) != "cli"
        for dep, _ in deps
        if _subpackage(dep) == "cli"
    ]
    assert bad == []


def test_no_module_reaches_into_another_capabilitys_internals() -> None:
    bad = [
        (m, dep, name)
        for m, deps in _graph().items()
        for dep, names in deps
        if _subpackage(dep) != _subpackage(m)
        for name in names
        if name.startswith("_")
    ]
    assert bad == []


def test_no_report_imports_a_command() -> None:
    bad = [
        (m, dep)
        for m, deps in _graph().items()
        if _subpackage(m) == "reports"
        for dep, _ in deps
        if dep in COMMANDS
    ]
    assert bad == []


def test_capabilities_depend_on_one_another_without_cycles() -> None:
    edges: dict[str, set[str]] = defaultdict(set)
    for m, deps in _graph().items():
        for dep, _ in deps:
            a, b = _subpackage(m), _subpackage(dep)
            if a != b and "(top)" not in (a, b):
                edges[a].add(b)
    state: dict[str, int] = {}

    def cycle_from(node: str, path: list[str]) -> list[str] | None:
        state[node] = 1
        for nxt in sorted(edges[node]):
            if state.get(nxt) == 1:
                return [*path, node, nxt]
            if nxt not in state and (found := cycle_from(nxt, [*path, node])):
                return found
        state[node] = 2
        return None

    for node in sorted(SUBPACKAGES):
        if node not in state:
            assert cycle_from(node, []) is None


@pytest.mark.parametrize("rule", ["internals", "report"])
def test_the_rules_catch_a_violation(rule: str) -> None:
    """The checks above can fail: a module written to break each rule is caught."""
    source = {
        "internals": "from targeting.reports.figures import _secret\n",
        "report": "from targeting.segments import kmeans\n",
    }[rule]
    deps = _runtime_imports(ast.parse(source))
    if rule == "internals":
        assert any(n.startswith("_") and _subpackage(d) != "models" for d, names in deps for n in names)
    else:
        assert any(d in COMMANDS for d, _ in deps)
    # and the same import under TYPE_CHECKING is not a runtime import
    guarded = "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    " + source
    assert _runtime_imports(ast.parse(guarded)) == []
