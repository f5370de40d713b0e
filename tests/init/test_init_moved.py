"""Names that moved out of initlab.init keep working for one release, with a warning."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

import initlab.calibrate
import initlab.init
import initlab.theory


@pytest.mark.parametrize(("name", "home"), [
    ("lsuv_", initlab.calibrate), ("LSUVResult", initlab.calibrate),
    ("mean_field", initlab.theory), ("critical", initlab.theory), ("MeanField", initlab.theory),
])
def test_old_names_in_init_warn_and_are_the_new_objects(name: str, home: object) -> None:
    with pytest.warns(DeprecationWarning, match=f"initlab.init.{name} moved"):
        old = getattr(initlab.init, name)
    assert old is getattr(home, name)
    assert name not in initlab.init.__all__


@pytest.mark.parametrize(("module", "name", "home"), [
    ("initlab.init.lsuv", "lsuv_", initlab.calibrate),
    ("initlab.init.meanfield", "critical", initlab.theory),
])
def test_old_modules_warn(module: str, name: str, home: object) -> None:
    sys.modules.pop(module, None)
    with pytest.warns(DeprecationWarning, match="moved to"):
        mod = importlib.import_module(module)
    assert getattr(mod, name) is getattr(home, name)


def test_unknown_attribute_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        initlab.init.nope  # noqa: B018


def test_importing_the_packages_warns_nothing() -> None:
    code = ("import warnings; warnings.simplefilter('error', DeprecationWarning); "
            "import initlab.init, initlab.calibrate, initlab.theory, initlab.policy")
    subprocess.run([sys.executable, "-c", code], check=True)
