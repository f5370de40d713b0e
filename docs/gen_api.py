"""Write the API reference pages (docs/api/*.md) from the public ``__all__``s.

    python docs/gen_api.py            # (re)write docs/api/
    python docs/gen_api.py --check    # exit 1 if a page is out of date (tests/test_docs.py)

Every name in the ``__all__`` of each module in ``PUBLIC`` gets a mkdocstrings block
(``::: initlab.apply``) under its stable public path, so the reference cannot miss a name:
add a name to an ``__all__``, rerun this script. ``tests/test_docstrings.py`` uses the same
list to run every public name's docstring examples.
"""

from __future__ import annotations

import importlib
import sys
import types
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
API = ROOT / "docs" / "api"

# (public path, page file, one line on what it is). ``initlab.mup`` is the root attribute
# for the muP module; its names are documented under the module's own path.
PUBLIC: list[tuple[str, str, str]] = [
    ("initlab", "initlab.md", "the root facade: the names most code needs"),
    ("initlab.init", "init.md", "initializers: functional drop-in for torch.nn.init, specs, fans, gains"),
    ("initlab.policy", "policy.md", "whole-model initialization: policies, plans, apply, materialize, audit"),
    ("initlab.diagnosis", "diagnosis.md", "diagnose a model at init"),
    ("initlab.scaling", "scaling.md", "width and depth scaling: muP, CompleteP, LLM recipes"),
    ("initlab.mup", "mup.md", "muP (initlab.mup)"),
    ("initlab.calibrate", "calibrate.md", "data-dependent initialization (LSUV)"),
    ("initlab.theory", "theory.md", "mean field and the edge of chaos"),
    ("initlab.integrations.hf", "hf.md", "Hugging Face transformers (initlab.hf)"),
    ("initlab.lab", "lab.md", "compare inits by training"),
    ("initlab.reproductions", "reproductions.md", "the built-in reproductions (initlab reproduce)"),
]


def load(path: str) -> types.ModuleType:
    """Import a public module by its public path (``initlab.mup`` is an attribute of the root)."""
    if path == "initlab.mup":
        module: types.ModuleType = vars(importlib.import_module("initlab"))["mup"]
        return module
    return importlib.import_module(path)


def public_names(module: types.ModuleType) -> list[str]:
    """The module's ``__all__``, in order."""
    return list(getattr(module, "__all__", []))


def _identifier(path: str, module: types.ModuleType) -> str:
    # names of initlab.mup are documented under the module's defining path
    return module.__name__ if path == "initlab.mup" else path


_GRIFFE: dict[str, Any] = {}


def _static(dotted: str) -> bool:
    """Whether mkdocstrings (griffe, which reads the source without importing it) finds ``dotted``."""
    import griffe

    if "pkg" not in _GRIFFE:
        _GRIFFE["pkg"] = griffe.load("initlab", search_paths=[str(ROOT)], resolve_aliases=False)
    try:
        obj = _GRIFFE["pkg"]
        for part in dotted.split(".")[1:]:
            obj = obj[part]
        if obj.is_alias:
            obj.final_target  # noqa: B018  (raises if the alias does not resolve)
    except Exception:
        return False
    return True


def _reference(public: str, obj: object) -> str:
    """The public path when griffe resolves it, else the defining path (lazy ``__getattr__``)."""
    if _static(public):
        return public
    module, qualname = getattr(obj, "__module__", None), getattr(obj, "__qualname__", None)
    if isinstance(module, str) and isinstance(qualname, str):
        return f"{module}.{qualname}"
    return public


def page(path: str, title: str) -> str:
    """The markdown of one reference page."""
    module = load(path)
    ident = _identifier(path, module)
    lines = [f"# `{path}`", "", f"{title[0].upper()}{title[1:]}.", ""]
    if ident != path:
        lines += [f"`{path}` is the module `{ident}`.", ""]
    lines += [f"::: {ident}", "    options:", "      members: false", "      show_root_heading: false", ""]
    for name in public_names(module):
        obj = getattr(module, name)
        lines.append(f"::: {_reference(f'{ident}.{name}', obj)}")
        if isinstance(obj, types.ModuleType):
            lines += ["    options:", "      members: false"]
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def index() -> str:
    """The reference's front page: one line per page."""
    lines = [
        "# API reference",
        "",
        "Generated from the docstrings (`python docs/gen_api.py` writes these pages from the",
        "public `__all__`s). Every public name has a Google-style docstring with an example;",
        "`tests/test_docstrings.py` runs the examples.",
        "",
    ]
    for path, file, title in PUBLIC:
        lines.append(f"- [`{path}`]({file}): {title}")
    return "\n".join(lines) + "\n"


def pages() -> dict[Path, str]:
    """Every page of the reference, by file."""
    out = {API / "index.md": index()}
    for path, file, title in PUBLIC:
        out[API / file] = page(path, title)
    return out


def main(argv: list[str]) -> int:
    """Write the pages, or with ``--check`` report those out of date."""
    stale = []
    for file, text in pages().items():
        if "--check" in argv:
            if not file.exists() or file.read_text() != text:
                stale.append(file.relative_to(ROOT).as_posix())
        else:
            file.parent.mkdir(parents=True, exist_ok=True)
            file.write_text(text)
    if stale:
        print(f"out of date: {', '.join(stale)}; run `python docs/gen_api.py`", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
