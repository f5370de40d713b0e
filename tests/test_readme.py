"""The README is short, its quickstart runs as written, and its links point to files that exist."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
MAX_LINES = 200


def _python_blocks(text: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", text, flags=re.S)


def _local_links(text: str) -> list[str]:
    """Markdown link targets that are not URLs or in-page anchors, without their anchor."""
    targets = re.findall(r"\]\(([^)\s]+)\)", text)
    return [t.split("#", 1)[0] for t in targets if not re.match(r"[a-z]+:|#", t)]


def test_readme_is_at_most_200_lines() -> None:
    n = len(README.read_text().splitlines())
    assert n <= MAX_LINES, f"README.md has {n} lines; move the detail into docs/"


def test_quickstart_python_block_runs(capsys: pytest.CaptureFixture[str]) -> None:
    blocks = _python_blocks(README.read_text())
    assert blocks, "the README has no python block"
    namespace: dict[str, object] = {"__name__": "__quickstart__"}
    exec(compile(blocks[0], "README quickstart", "exec"), namespace)  # noqa: S102
    out = capsys.readouterr().out
    assert "['saturation']" in out and "converged" in out
    big = namespace["big"]
    assert isinstance(big, __import__("torch").nn.Module)
    assert next(big.parameters()).device.type == "cpu"


def test_the_docs_quickstart_is_the_readme_quickstart() -> None:
    """The site's Getting started runs the same code the test above executes."""
    site = _python_blocks((ROOT / "docs" / "getting-started.md").read_text())
    assert site and site[0] == _python_blocks(README.read_text())[0]


def test_readme_links_point_to_files_that_exist() -> None:
    links = _local_links(README.read_text())
    assert links, "the README links to no documentation"
    missing = [t for t in links if not (ROOT / t).exists()]
    assert not missing, f"README links to missing files: {missing}"


def test_readme_links_into_the_docs_site() -> None:
    links = set(_local_links(README.read_text()))
    for page in ("docs/getting-started.md", "docs/benchmarks.md", "docs/reproductions.md",
                 "docs/api/index.md", "docs/architecture.md"):
        assert page in links, f"README does not link to {page}"
