"""The package layout DESIGN promises: imports point one way and nothing imports in a circle.

The graph is read statically from the source (every ``import`` statement, including those inside
functions, except under ``if TYPE_CHECKING:``), so a cycle hidden in a function body counts too.
"""

from __future__ import annotations

import ast
import pathlib
from collections import defaultdict

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1] / "initlab"

# Which top-level packages each package may import (besides itself). The root facade
# (``initlab/__init__.py``) may import anything; nothing may import the facade.
LAYERS: dict[str, set[str]] = {
    "_version": set(),
    "errors": set(),
    "_core": {"errors"},
    "rng": {"errors"},
    "init": {"errors", "rng"},
    "policy": {"errors", "rng", "init"},
    "calibrate": {"errors", "rng", "init", "policy"},
    "theory": {"errors", "rng", "init"},
    "diagnosis": {"errors", "rng", "init", "policy"},
    "scaling": {"errors", "rng", "init", "policy", "diagnosis"},
    "integrations": {"errors", "rng", "init", "policy", "scaling"},
    "lab": {
        "errors", "rng", "init", "policy", "calibrate", "theory", "diagnosis", "scaling",
        "integrations",
    },
    "reproductions": {
        "errors", "rng", "init", "policy", "calibrate", "theory", "diagnosis", "scaling",
        "integrations", "lab",
    },
    "cli": {
        "errors", "rng", "init", "policy", "calibrate", "theory", "diagnosis", "scaling",
        "integrations", "lab", "reproductions",
    },
    "__main__": {"cli"},
}


def _modules() -> dict[str, pathlib.Path]:
    mods = {}
    for path in ROOT.rglob("*.py"):
        parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        mods[".".join(parts)] = path
    return mods


MODULES = _modules()


def _targets(module: str, node: ast.Import | ast.ImportFrom, is_package: bool) -> list[str]:
    if isinstance(node, ast.Import):
        names = [alias.name for alias in node.names]
    else:
        if node.level:
            base = module.split(".") if is_package else module.split(".")[:-1]
            base = base[: len(base) - (node.level - 1)]
            target = ".".join(base + ([node.module] if node.module else []))
        else:
            target = node.module or ""
        # `from pkg import sub` imports the submodule; `from pkg import name` reads pkg itself
        names = [
            f"{target}.{alias.name}" if f"{target}.{alias.name}" in MODULES else target
            for alias in node.names
        ]
    return [name for name in names if name in MODULES and name != module]


def _graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = defaultdict(set)
    for module, path in MODULES.items():
        is_package = path.name == "__init__.py"

        def walk(nodes, module=module, is_package=is_package):
            for node in nodes:
                if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.dump(node.test):
                    walk(node.orelse)
                    continue
                if isinstance(node, (ast.Import, ast.ImportFrom)):
                    graph[module].update(_targets(module, node, is_package))
                walk(ast.iter_child_nodes(node))

        walk(ast.parse(path.read_text()).body)
    return graph


GRAPH = _graph()


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for start in MODULES:
        if start in index:
            continue
        work = [(start, iter(sorted(graph.get(start, ()))))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def _package(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def test_the_cycle_finder_finds_a_cycle():
    assert _cycles({"initlab.errors": {"initlab.rng"}, "initlab.rng": {"initlab.errors"}}) == [
        ["initlab.errors", "initlab.rng"]
    ]


def test_no_import_cycle_anywhere():
    cycles = _cycles(GRAPH)
    assert not cycles, "import cycles:\n" + "\n".join(" <-> ".join(c) for c in cycles)


def test_every_package_is_in_the_layer_table():
    unknown = {_package(m) for m in MODULES} - set(LAYERS) - {""}
    assert not unknown, f"add {sorted(unknown)} to LAYERS (and to docs' 'How initlab is built')"


@pytest.mark.parametrize("package", sorted(LAYERS))
def test_imports_point_one_way(package):
    wrong = []
    for module, targets in GRAPH.items():
        if _package(module) != package:
            continue
        for target in targets:
            other = _package(target)
            if other in (package, "_version", "_core"):  # shared kernels: importable anywhere
                continue
            if other == "" or other not in LAYERS[package]:
                wrong.append(f"{module} -> {target}")
    assert not wrong, f"{package} may import only {sorted(LAYERS[package])}:\n" + "\n".join(wrong)
