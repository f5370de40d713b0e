"""Every public name has a Google-style docstring whose ``Examples:`` run (doctest, CPU, no network).

The public names are the ``__all__``s of the modules the API reference documents
(``PUBLIC`` in docs/gen_api.py). Tests are parametrized by qualified name, so an owner can
run one package: ``pytest tests/test_docstrings.py -k initlab.init``.

For a function or class: a one-line summary, an ``Args:`` section when it takes parameters
(for a class, ``Args:`` or ``Attributes:``), and an ``Examples:`` section with ``>>>`` lines,
which run with the defining module's globals. A module in an ``__all__`` (``initlab.init``)
needs a summary; its own names are checked under its path. Plain data (a dict, a tuple)
needs an attribute docstring (the string after its assignment). Any other object (a
registry) is documented by its class.
"""

from __future__ import annotations

import doctest
import importlib.util
import inspect
import re
import sys
import types
import typing
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
SECTION = re.compile(r"^(\s*)([A-Z][A-Za-z ]*):\s*$", re.M)


def _gen_api() -> types.ModuleType:
    spec = importlib.util.spec_from_file_location("_initlab_gen_api", ROOT / "docs" / "gen_api.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


GEN_API = _gen_api()


def _cases() -> list[Any]:
    cases = []
    for path, _file, _title in GEN_API.PUBLIC:
        try:
            module = GEN_API.load(path)
        except Exception as exc:  # reported as a failing case, not a collection error
            cases.append(pytest.param(path, None, exc, id=path))
            continue
        for name in GEN_API.public_names(module):
            if name.startswith("__"):
                continue  # __version__: a string, documented in the module docstring
            cases.append(pytest.param(path, name, None, id=f"{path}.{name}"))
    return cases


CASES = _cases()


def _target(path: str, name: str | None, error: Exception | None) -> tuple[Any, types.ModuleType]:
    """The object whose docstring documents ``path.name``, and the module that defines it."""
    if error is not None:
        pytest.fail(f"{path} does not import: {type(error).__name__}: {error}")
    assert name is not None
    module = GEN_API.load(path)
    obj = getattr(module, name)
    if _is_plain_data(obj):
        _check_data_docstring(path, module, name)
        pytest.skip("plain data: its docstring is the string after its assignment (checked)")
    if not (inspect.isclass(obj) or inspect.isroutine(obj) or isinstance(obj, types.ModuleType)):
        obj = type(obj)  # an instance (a registry, a table) is documented by its class
    obj = inspect.unwrap(obj) if inspect.isroutine(obj) else obj
    if isinstance(obj, types.ModuleType):
        return obj, obj
    home = sys.modules.get(getattr(obj, "__module__", "") or "", module)
    return obj, home


def _is_plain_data(obj: Any) -> bool:
    """A dict, tuple, number, type alias, ...: it cannot carry a docstring of its own."""
    if typing.get_origin(obj) is not None:  # a type alias such as Callable[[Context], Result]
        return True
    return type(obj).__module__ == "builtins" and not (
        inspect.isclass(obj) or inspect.isroutine(obj)
    )


def _check_data_docstring(path: str, module: types.ModuleType, name: str) -> None:
    """A public constant has an attribute docstring (a string right after it), as the API
    reference (griffe, reading the source) shows it."""
    griffe = pytest.importorskip("griffe", reason="the docs extra (griffe) is not installed")
    home = GEN_API._identifier(path, module)
    pkg = griffe.load(home.split(".")[0], search_paths=[str(ROOT)], resolve_aliases=False)
    obj = pkg
    for part in f"{home}.{name}".split(".")[1:]:
        obj = obj[part]
    if obj.is_alias:
        obj = obj.final_target
    doc = obj.docstring.value if obj.docstring else ""
    assert doc.strip(), (
        f"{path}.{name} is public data with no docstring: put a string literal on the line "
        "after its assignment"
    )


def _sections(doc: str) -> dict[str, str]:
    """Google-style sections (``Args:``, ``Examples:``, ...) -> their text."""
    out: dict[str, str] = {}
    matches = list(SECTION.finditer(doc))
    for i, m in enumerate(matches):
        end = matches[i + 1].start() if i + 1 < len(matches) else len(doc)
        out[m.group(2)] = doc[m.end():end]
    return out


def _takes_parameters(obj: Any) -> bool:
    target = obj.__init__ if inspect.isclass(obj) else obj
    try:
        sig = inspect.signature(target)
    except (TypeError, ValueError):
        return False
    skip = {"self", "cls"}
    return any(p.name not in skip and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
               for p in sig.parameters.values())


@pytest.mark.parametrize(("path", "name", "error"), CASES)
def test_docstring_is_google_style_with_an_example(
    path: str, name: str | None, error: Exception | None
) -> None:
    obj, _home = _target(path, name, error)
    doc = inspect.getdoc(obj) or ""
    qual = f"{path}.{name}"
    assert doc.strip(), f"{qual} has no docstring"
    summary = doc.strip().splitlines()[0]
    assert summary.strip() and not SECTION.match(summary), f"{qual}: no one-line summary"
    if isinstance(obj, types.ModuleType):
        return
    sections = _sections(doc)
    if _takes_parameters(obj):
        wanted = ("Args", "Attributes") if inspect.isclass(obj) else ("Args",)
        if inspect.isclass(obj) and obj.__init__ is object.__init__:
            wanted = ()
        assert not wanted or any(w in sections for w in wanted), (
            f"{qual} takes parameters but its docstring has no {' or '.join(wanted)}: section"
        )
    examples = sections.get("Examples") or sections.get("Example") or ""
    assert ">>>" in examples, f"{qual} has no Examples: section with a >>> line"


@pytest.mark.parametrize(("path", "name", "error"), CASES)
def test_docstring_examples_run(
    path: str, name: str | None, error: Exception | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    obj, home = _target(path, name, error)
    if isinstance(obj, types.ModuleType):
        pytest.skip("a module's own names are checked under its path")
    doc = inspect.getdoc(obj) or ""
    qual = f"{path}.{name}"
    if ">>>" not in doc:
        pytest.fail(f"{qual} has no example to run")
    for var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE"):
        monkeypatch.setenv(var, "1")
    globs = dict(vars(home))
    test = doctest.DocTestParser().get_doctest(doc, globs, qual, getattr(home, "__file__", None), 0)
    runner = doctest.DocTestRunner(
        optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, verbose=False
    )
    report: list[str] = []
    runner.run(test, out=report.append)
    assert runner.failures == 0, f"{qual}: examples failed\n" + "".join(report)[-4000:]


def test_every_public_module_is_listed() -> None:
    """The list covers the packages the issue names (it cannot silently shrink)."""
    paths = {path for path, _f, _t in GEN_API.PUBLIC}
    assert {"initlab", "initlab.init", "initlab.policy", "initlab.diagnosis", "initlab.lab",
            "initlab.scaling", "initlab.mup", "initlab.calibrate", "initlab.theory",
            "initlab.integrations.hf"} <= paths
