"""Rules and policies: ordered rules, first match wins; all plain data (JSON round trip).

A :class:`Rule` matches a parameter (or chunk of a fused parameter) by module type, name
glob, role (see :mod:`initlab.policy.roles`) and the activation that follows its module,
and says which initializer to use: an initializer spec (``"kaiming_normal(mode='fan_out')"``)
or ``"@chooser"``, a registered function that picks the spec from the context (used by the
presets, e.g. ``"@auto_weight"`` picks Kaiming/Xavier/LeCun from the activation).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from initlab._core.registry import Registry
from initlab.errors import ConfigError, UnknownNameError, did_you_mean, shown
from initlab.init import get
from initlab.init.registry import Initializer
from initlab.policy.roles import ROLES, Target

__all__ = ["Rule", "Policy", "PolicyLike", "Choice", "chooser", "CHOOSERS", "ACTIVATIONS",
           "ON_UNMATCHED"]

ACTIVATIONS = (
    "relu", "leaky_relu", "elu", "gelu", "silu", "mish", "tanh", "sigmoid", "softsign", "selu",
    "hardswish", "softplus", "none",
)
ON_UNMATCHED = ("error", "keep", "default")


@dataclass
class Choice:
    """What a rule decided for one target."""

    init: Any                 # an initlab Initializer
    reason: str
    gain: float | None = None
    layout: Any = "same"      # "same": the target's layout; None: torch's fan convention


ChooserFn = Callable[[Target, Any], "Choice | None"]
#: The rule choosers by name (``"@name"`` in a rule's ``init``).
CHOOSERS: Registry[ChooserFn] = Registry("chooser")


def chooser(name: str) -> Callable[[ChooserFn], ChooserFn]:
    """Register ``fn(target, ctx) -> Choice`` under ``"@name"`` for use in rules."""
    return CHOOSERS.register(name)


def _tuple(value: Any, what: str) -> tuple[str, ...] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return (value,)
    if isinstance(value, type):
        return (value.__name__,)
    try:
        items = tuple(v.__name__ if isinstance(v, type) else v for v in value)
    except TypeError:
        raise ConfigError(
            f"Rule {what} must be a string or a list of strings; got {shown(repr(value))}. "
            f"Hint: e.g. {what}='Conv2d' or {what}=['Linear', 'Conv2d']."
        ) from None
    if not all(isinstance(v, str) for v in items):
        raise ConfigError(f"Rule {what} must contain strings; got {shown(repr(value))}.")
    return items


def _check_names(values: Iterable[str] | None, allowed: Iterable[str], what: str) -> None:
    allowed = tuple(allowed)
    for v in values or ():
        if v not in allowed:
            hint = did_you_mean(v[:200], allowed)
            raise ConfigError(
                f"Unknown rule {what} '{shown(v)}'.{hint} Expected one of: {', '.join(allowed)}."
            )


def _spec_string(init: Any) -> str:
    if isinstance(init, str) and init.startswith("@"):
        if init[1:] not in CHOOSERS:
            hint = did_you_mean(init[1:200], CHOOSERS.names(), prefix="@")
            raise UnknownNameError(
                f"Unknown chooser '{shown(init)}' in a rule.{hint} Available: "
                f"{['@' + c for c in CHOOSERS.names()]}."
            )
        return init
    return str(get(init))  # raises UnknownNameError / ConfigError for bad specs


@dataclass(frozen=True)
class Rule:
    """Match parameters and name their initializer. None matches everything.

    Plain data: validated on construction, ``to_dict`` / ``from_dict`` round-trip (JSON).

    Attributes:
        init: an initializer spec (``"kaiming_normal(mode='fan_out')"``, a dict or an
            Initializer; stored as its canonical string) or ``"@chooser"``.
        type: module class names (or classes; subclasses match).
        name: globs on the fully qualified parameter name (``*`` crosses dots).
        role: roles (see ``initlab.policy.roles.ROLES``): ``"weight"``, ``"bias"``, ...
        activation: what follows the module (``"relu"``, ..., ``"none"`` for nothing).
        label: the rule's name in plans (default: its conditions, e.g. ``"role=weight"``).
        reason: the plan rows' reason (default: ``"rule <label>"``).
        warn_unused: warn when a ``name`` glob matches no parameter.

    Examples:
        >>> rule = Rule("xavier_uniform", type="Linear", role="weight")
        >>> rule.init, rule.label
        ('xavier_uniform(gain=1.0)', 'type=Linear,role=weight')
        >>> Rule.from_dict(rule.to_dict()) == rule
        True
        >>> Rule("kaiming_normal", role="wieght")
        Traceback (most recent call last):
        ...
        initlab.errors.ConfigError: Unknown rule role 'wieght'. Did you mean 'weight'? ...
    """

    init: Any
    type: Any = None
    name: Any = None
    role: Any = None
    activation: Any = None
    label: str | None = None
    reason: str | None = None
    warn_unused: bool = True

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "type", _tuple(self.type, "type"))
        set_(self, "name", _tuple(self.name, "name"))
        set_(self, "role", _tuple(self.role, "role"))
        set_(self, "activation", _tuple(self.activation, "activation"))
        _check_names(self.role, ROLES, "role")
        _check_names(self.activation, ACTIVATIONS, "activation")
        set_(self, "init", _spec_string(self.init))
        if self.label is None:
            parts = [f"{k}={'|'.join(v)}" for k, v in
                     (("type", self.type), ("name", self.name), ("role", self.role),
                      ("activation", self.activation)) if v]
            set_(self, "label", ",".join(parts) or "*")

    def matches_static(self, target: Target) -> bool:
        """Everything but the activation."""
        if self.role is not None and target.role not in self.role:
            return False
        if self.type is not None:
            mro = {c.__name__ for c in type(target.module).__mro__}
            if not mro.intersection(self.type):
                return False
        if self.name is not None and not any(
            fnmatch.fnmatchcase(target.name, g) or fnmatch.fnmatchcase(target.key, g)
            for g in self.name
        ):
            return False
        return True

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"init": self.init}
        for k in ("type", "name", "role", "activation"):
            v = getattr(self, k)
            if v is not None:
                d[k] = list(v)
        for k in ("label", "reason"):
            if getattr(self, k) is not None:
                d[k] = getattr(self, k)
        if not self.warn_unused:
            d["warn_unused"] = False
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Rule:
        if not isinstance(d, dict) or "init" not in d:
            raise ConfigError(
                f"A rule must be a dict with at least 'init'; got {shown(repr(d))}. "
                "Hint: {'role': 'weight', 'init': 'kaiming_normal'}."
            )
        unknown = set(d) - {"init", "type", "name", "role", "activation", "label", "reason",
                            "warn_unused"}
        if unknown:
            raise ConfigError(f"Unknown rule keys {shown(sorted(unknown, key=repr))}; expected init, "
                              "type, name, role, activation, label, reason, warn_unused.")
        for key in ("label", "reason"):
            if d.get(key) is not None and not isinstance(d[key], str):
                raise ConfigError(f"Rule {key} must be a string; got {shown(repr(d[key]))}.")
        if not isinstance(d.get("warn_unused", True), bool):
            raise ConfigError(f"Rule warn_unused must be true or false; got "
                              f"{shown(repr(d['warn_unused']))}.")
        return cls(**d)


def _rule(r: Rule | dict[str, Any]) -> Rule:
    return r if isinstance(r, Rule) else Rule.from_dict(r)


@dataclass(frozen=True)
class Policy:
    """Ordered rules (first match wins) plus what to do with unmatched parameters.

    Attributes:
        rules: the rules, in order (dicts are read with :meth:`Rule.from_dict`).
        on_unmatched: ``"error"`` (list them), ``"keep"`` (leave them as they are) or
            ``"default"`` (torch's Linear/Conv default for >= 2-d tensors, zeros otherwise).
        name: the policy's name in plans.
        options: read by the choosers (e.g. ``exact_gain``, ``n_layer``, ``family``).

    Examples:
        >>> policy = Policy((Rule("orthogonal", role="weight"), Rule("zeros", role="bias")),
        ...                 name="orth")
        >>> [r.label for r in policy.rules]
        ['role=weight', 'role=bias']
        >>> Policy.from_dict(policy.to_dict()) == policy
        True
        >>> policy.prepend(Rule("zeros", name="head.*")).rules[0].label
        'name=head.*'
    """

    rules: tuple[Rule, ...]
    on_unmatched: str = "error"
    name: str = "custom"
    options: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        rules = tuple(_rule(r) for r in self.rules)
        object.__setattr__(self, "rules", rules)
        object.__setattr__(self, "options", dict(self.options))
        if self.on_unmatched not in ON_UNMATCHED:
            raise ConfigError(
                f"on_unmatched must be one of {list(ON_UNMATCHED)}; got {self.on_unmatched!r}."
            )

    def prepend(self, *rules: Rule | dict, name: str | None = None) -> Policy:
        """A new policy whose ``rules`` come before this one's (they take precedence)."""
        return Policy((*map(_rule, rules), *self.rules), self.on_unmatched, name or self.name, self.options)

    def with_options(self, **options: Any) -> Policy:
        return Policy(self.rules, self.on_unmatched, self.name, {**self.options, **options})

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "on_unmatched": self.on_unmatched,
                "options": dict(self.options), "rules": [r.to_dict() for r in self.rules]}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Policy:
        if not isinstance(d, dict) or "rules" not in d:
            got = shown(sorted(d, key=repr) if isinstance(d, dict) else repr(d))
            raise ConfigError(f"A policy dict needs 'rules'; got {got}. Hint: "
                              "{'rules': [{'role': 'weight', 'init': 'kaiming_normal'}]}.")
        if not isinstance(d["rules"], list | tuple):
            raise ConfigError(f"Policy 'rules' must be a list of rule dicts; got "
                              f"{type(d['rules']).__name__}.")
        for key, kind in (("name", str), ("on_unmatched", str), ("options", dict)):
            if key in d and not isinstance(d[key], kind):
                raise ConfigError(f"Policy '{key}' must be a {kind.__name__}; got "
                                  f"{shown(repr(d[key]))}.")
        return cls(tuple(Rule.from_dict(r) for r in d["rules"]), d.get("on_unmatched", "error"),
                   d.get("name", "custom"), d.get("options", {}))


# What ``policy=`` accepts everywhere: a preset name or initializer spec string, a Policy, a
# policy dict (``{"rules": [...]}``) or spec dict, or an Initializer (apply/materialize also
# take a Plan).
PolicyLike = str | Policy | dict[str, Any] | Initializer
