"""initlab._core.registry: the one Registry type."""

from __future__ import annotations

import pytest

from initlab._core.registry import Registry
from initlab.errors import ConfigError, UnknownNameError


def _reg() -> Registry[int]:
    reg: Registry[int] = Registry("initializer", normalize=lambda s: (s.strip().lower(),))
    reg.add("kaiming_normal", 1, aliases=("he_normal",))
    reg.add("xavier_uniform", 2)
    return reg


def test_unknown_name_house_style() -> None:
    with pytest.raises(UnknownNameError) as info:
        _reg().get("kaimnig_normal")
    assert str(info.value) == ("Unknown initializer 'kaimnig_normal'. Did you mean "
                               "'kaiming_normal'? Available: ['kaiming_normal', 'xavier_uniform'].")
    assert isinstance(info.value, KeyError)


def test_aliases_and_normalize() -> None:
    reg = _reg()
    assert reg.get(" HE_Normal ") == 1
    assert reg.resolve("he_normal") == "kaiming_normal"
    assert reg.aliases() == {"he_normal": "kaiming_normal"}
    assert reg.aliases_of("kaiming_normal") == ("he_normal",)
    assert reg.names() == ["kaiming_normal", "xavier_uniform"]
    assert reg.items() == [("kaiming_normal", 1), ("xavier_uniform", 2)]
    assert "he_normal" in reg and reg.contains("XAVIER_UNIFORM") and "nope" not in reg
    assert 3 not in reg  # type: ignore[operator]
    assert len(reg) == 2 and list(reg) == reg.names()


def test_duplicates_are_errors_unless_replace() -> None:
    reg = _reg()
    for name, aliases in (("kaiming_normal", ()), ("he_normal", ()), ("new", ("he_normal",)),
                          ("KAIMING_NORMAL", ())):
        with pytest.raises(ConfigError, match="already registered"):
            reg.add(name, 9, aliases=aliases)
    reg.add("kaiming_normal", 7, replace=True)
    assert reg.get("kaiming_normal") == 7
    reg.add("he_normal", 8, replace=True)  # an alias replaced by a name of its own
    assert reg.get("he_normal") == 8 and reg.aliases() == {}


def test_decorator_returns_the_class_unchanged() -> None:
    reg: Registry[type] = Registry("thing")

    @reg.register("a", aliases=("b",))
    class A:
        pass

    assert reg.get("b") is A and A.__name__ == "A"
    assert reg.register("c", int) is int


def test_bad_names_and_remove() -> None:
    reg = _reg()
    with pytest.raises(ConfigError, match="non-empty string"):
        reg.add("", 1)
    assert reg.remove("he_normal") == 1
    assert reg.names() == ["xavier_uniform"] and reg.aliases() == {}
    with pytest.raises(UnknownNameError):
        reg.remove("kaiming_normal")


def test_hint_and_show_aliases() -> None:
    reg: Registry[int] = Registry("policy", hint=" Hint: list them.", show_aliases=True)
    reg.add("auto", 1, aliases=("default",))
    assert str(reg.unknown("atuo")) == ("Unknown policy 'atuo'. Did you mean 'auto'? Available: "
                                        "['auto'] (aliases: ['default']). Hint: list them.")
