"""Assemble README.md from docs/readme/*.md (in name order): `python docs/build_readme.py`.

Each part of initlab keeps its README section next to the others in docs/readme/; the
suite checks that README.md is up to date (tests/test_readme.py).
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PARTS = ROOT / "docs" / "readme"


def build() -> str:
    parts = [p.read_text().strip() + "\n" for p in sorted(PARTS.glob("*.md"))]
    return "\n".join(parts)


def main() -> int:
    text = build()
    target = ROOT / "README.md"
    if "--check" in sys.argv[1:]:
        if target.read_text() != text:
            print("README.md is out of date: run `python docs/build_readme.py`", file=sys.stderr)
            return 1
        return 0
    target.write_text(text)
    print(f"wrote {target} ({len(text.splitlines())} lines)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
