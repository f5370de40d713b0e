"""The docs site says what the code does: layers, API pages, scenarios and benchmarks cannot drift.

- "How initlab is built" (docs/architecture.md) lists every package of the ``LAYERS`` table in
  tests/test_architecture.py with exactly the packages it may import;
- the API reference pages (docs/api/) are what ``docs/gen_api.py`` writes from the public
  ``__all__``s today;
- every built-in reproduction and every benchmark script has its section on its page;
- every page of docs/ is in the site's navigation.

The strict build itself (``mkdocs build --strict``) runs in ``make test``.
"""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"


def _load(path: Path, name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _layers() -> dict[str, set[str]]:
    layers: dict[str, set[str]] = _load(ROOT / "tests" / "test_architecture.py",
                                        "_initlab_test_architecture").LAYERS
    return layers


def _architecture_rows() -> dict[str, set[str]]:
    """package -> the packages its row says it may import (``nothing`` is the empty set)."""
    rows: dict[str, set[str]] = {}
    for line in (DOCS / "architecture.md").read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 3 or not re.fullmatch(r"`[\w.]+`", cells[0]):
            continue
        package = cells[0].strip("`")
        allowed = set(re.findall(r"`([\w.]+)`", cells[2]))
        assert allowed or cells[2] == "nothing", f"row {package!r}: {cells[2]!r}"
        rows[package] = allowed
    return rows


@pytest.mark.parametrize("package", sorted(_layers()))
def test_architecture_page_gives_each_package_its_allowed_imports(package: str) -> None:
    rows = _architecture_rows()
    assert package in rows, f"docs/architecture.md has no row for `{package}`"
    assert rows[package] == _layers()[package], (
        f"docs/architecture.md says `{package}` may import {sorted(rows[package])}; "
        f"tests/test_architecture.py LAYERS says {sorted(_layers()[package])}"
    )


def test_architecture_page_names_no_package_that_does_not_exist() -> None:
    assert set(_architecture_rows()) <= set(_layers())


def test_api_pages_are_up_to_date() -> None:
    res = subprocess.run([sys.executable, str(DOCS / "gen_api.py"), "--check"],
                         capture_output=True, text=True, cwd=ROOT)
    assert res.returncode == 0, res.stderr[-3000:]


def test_every_reproduction_has_its_row() -> None:
    from initlab.reproductions import available

    page = (DOCS / "reproductions.md").read_text()
    missing = [name for name in available() if f"| `{name}` |" not in page]
    assert not missing, f"docs/reproductions.md has no row for {missing}"


def test_every_benchmark_has_its_section() -> None:
    page = (DOCS / "benchmarks.md").read_text()
    scripts = sorted(p.name for p in (ROOT / "benchmarks").glob("*.py")
                     if not p.name.startswith("_"))
    assert scripts
    missing = [s for s in scripts if f"### `{s}`" not in page]
    assert not missing, f"docs/benchmarks.md has no section for {missing}"


def test_every_page_is_in_the_navigation() -> None:
    nav = (ROOT / "mkdocs.yml").read_text()
    pages = sorted(p.relative_to(DOCS).as_posix() for p in DOCS.rglob("*.md"))
    missing = [p for p in pages if not re.search(rf"(:|-)\s+{re.escape(p)}\s*$", nav, re.M)]
    assert not missing, f"pages not in mkdocs.yml's nav: {missing}"
