"""A name that is both a preset and an initializer: one documented rule, tested both ways."""

from __future__ import annotations

import pytest
from torch import nn

from initlab.errors import ConfigError, UnknownNameError
from initlab.init import available, resolve_name
from initlab.lab.inits import canonical_init
from initlab.policy.plan import plan
from initlab.policy.presets import PRESETS, get_policy, policies, register_policy, resolve

SHARED = ("delta_orthogonal", "orthogonal", "torch_default")


def test_the_shared_names_are_the_ones_documented() -> None:
    inits = {resolve_name(n) for n in policies() if _is_init(n)}
    assert sorted(n for n in policies() if _is_init(n)) == list(SHARED)
    assert inits == {"delta_orthogonal", "orthogonal", "default"}


def _is_init(name: str) -> bool:
    try:
        resolve_name(name)
    except UnknownNameError:
        return False
    return True


@pytest.mark.parametrize("name", SHARED)
def test_bare_name_is_the_preset_and_prefixes_choose(name: str) -> None:
    preset = resolve(name)
    assert preset.name == name and preset == resolve(f"preset:{name}") == get_policy(f"preset:{name}")
    spec = resolve(f"init:{name}")
    assert spec.name != name and spec.name.startswith(resolve_name(name) + "(")
    assert canonical_init(name) == name and canonical_init(f"preset:{name}") == name
    assert canonical_init(f"init:{name}") == spec.name


def test_the_choice_changes_the_plan() -> None:
    model = nn.Sequential(nn.Linear(8, 8), nn.Tanh(), nn.Linear(8, 4))
    by_preset = {r.name: r.init for r in plan(model, "orthogonal").rows}
    by_init = {r.name: r.init for r in plan(model, "init:orthogonal").rows}
    assert by_init["0.weight"] == "orthogonal(gain=1.0)"
    assert by_preset["0.weight"] != by_init["0.weight"]


def test_unknown_prefixed_names() -> None:
    with pytest.raises(UnknownNameError, match=r"Unknown policy 'nope'"):
        resolve("preset:nope")
    with pytest.raises(UnknownNameError, match=r"Unknown initializer 'nope'"):
        resolve("init:nope")
    assert "nope" not in available()


def test_presets_are_a_registry() -> None:
    assert PRESETS.names() == policies() and "auto" in PRESETS
    with pytest.raises(ConfigError, match=r"already registered.*overwrite=True"):
        register_policy("auto", get_policy("kaiming"))
    register_policy("_test_preset", get_policy("kaiming"))
    try:
        assert resolve("_test_preset").rules == get_policy("kaiming").rules
        register_policy("_test_preset", get_policy("xavier"), overwrite=True)
        assert resolve("_test_preset").rules == get_policy("xavier").rules
    finally:
        PRESETS.remove("_test_preset")
