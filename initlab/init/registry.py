"""Initializer specs: the base class, the registry, and ``get`` / ``available``.

Every initializer is a frozen dataclass registered under a name (and aliases)::

    @register("kaiming_normal", aliases=("he_normal",))
    @dataclass(frozen=True)
    class KaimingNormal(Initializer):
        a: float = 0.0
        ...

A spec is data: ``spec.to_dict()`` is JSON-safe, ``str(spec)`` is
``"kaiming_normal(a=0.0, mode='fan_in', nonlinearity='leaky_relu')"``, and
``get(...)`` turns either form back into an equal spec. The string form is parsed with
``ast`` (only literal argument values are accepted; nothing is evaluated).
"""

from __future__ import annotations

import ast
import math
import numbers
import warnings
from dataclasses import MISSING, fields, is_dataclass
from typing import Any, ClassVar

import torch

from initlab.errors import ConfigError, UnknownNameError, did_you_mean, shown
from initlab.init.source import TorchSource

__all__ = ["Initializer", "register", "get", "available", "aliases", "resolve_name"]

_REGISTRY: dict[str, type[Initializer]] = {}
_ALIASES: dict[str, str] = {}


class Initializer:
    """Base class of every initializer spec (subclasses are frozen dataclasses).

    Class attributes a subclass may set:

    * ``elementwise``: every element is an iid draw from one distribution, so a shard can
      be filled on its own from a keyed stream (the policy layer relies on it).
    * ``random``: the initializer draws random numbers (False: deterministic, e.g. ``eye``).
    * ``example_shape``: a weight shape it supports, and ``example_config``: a cheap config
      (e.g. few iterations); the registry-wide contract tests use both.
    """

    name: ClassVar[str] = ""
    aliases: ClassVar[tuple[str, ...]] = ()
    description: ClassVar[str] = ""
    torch_equivalent: ClassVar[str | None] = None
    elementwise: ClassVar[bool] = True
    random: ClassVar[bool] = True
    example_shape: ClassVar[tuple[int, ...]] = (64, 32)
    example_config: ClassVar[dict[str, Any]] = {}
    # fields left out of get_config() while they hold their default (added later, so older
    # serialized specs and plans stay as they were)
    quiet_defaults: ClassVar[tuple[str, ...]] = ()

    # --- what a subclass implements -------------------------------------------------
    def fill_(self, tensor: torch.Tensor, source, *, layout=None, groups=1) -> torch.Tensor:
        """Fill ``tensor`` in place from ``source``; the caller holds ``torch.no_grad()``."""
        raise NotImplementedError

    def expected_std(self, shape, *, layout=None, groups=1) -> float | None:
        """The standard deviation of the entries this init gives for ``shape`` (None: n/a)."""
        return None

    # --- config and serialization ----------------------------------------------------
    def get_config(self) -> dict[str, Any]:
        """The spec's arguments, JSON-safe (tuples become lists in JSON)."""
        config = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if not f.init or (f.name in self.quiet_defaults and f.default is not MISSING
                              and value == f.default):
                continue
            config[f.name] = value
        return config

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Initializer:
        if not isinstance(config, dict):
            raise ConfigError(
                f"Config of initializer '{cls.name}' must be a dict; got {type(config).__name__}. "
                "Hint: use {'name': ..., 'config': {...}}."
            )
        allowed = [f.name for f in fields(cls) if f.init]
        for key in config:
            if key not in allowed:
                raise ConfigError(
                    f"Unknown argument '{shown(key)}' for initializer '{cls.name}'."
                    f"{did_you_mean(shown(key), allowed)} Allowed: {allowed}."
                )
        return cls(**config)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "config": self.get_config()}

    def to_keras_config(self) -> dict[str, Any]:
        """Keras 3's serialized form of this spec (see :mod:`initlab.init.keras_interop`)."""
        from initlab.init.keras_interop import to_keras_config

        return to_keras_config(self)

    def to_keras(self):
        """The equivalent Keras initializer object (Keras must be installed)."""
        from initlab.init.keras_interop import to_keras

        return to_keras(self)

    def to_jax_config(self) -> dict[str, Any]:
        """The equivalent ``jax.nn.initializers`` function name and arguments."""
        from initlab.init.jax_interop import to_jax_config

        return to_jax_config(self)

    def to_jax(self):
        """The equivalent JAX initializer function (JAX must be installed)."""
        from initlab.init.jax_interop import to_jax

        return to_jax(self)

    def __str__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{self.name}({args})"

    # --- the functional path ---------------------------------------------------------
    def __call__(self, tensor, *, generator=None, layout=None, groups=1):
        """Fill ``tensor`` in place with torch's RNG (and ``generator``); returns it."""
        if not isinstance(tensor, torch.Tensor):
            raise ConfigError(
                f"{self.name} needs a torch.Tensor; got {type(tensor).__name__}. "
                "Hint: pass the parameter itself, e.g. layer.weight."
            )
        if tensor.is_meta:
            raise ConfigError(
                f"Cannot initialize a meta tensor of shape {tuple(tensor.shape)} in place with "
                f"{self.name}: it has no storage. Hint: use initlab.materialize(model, policy, "
                "seed=..., device=...) to allocate and initialize a meta model."
            )
        if tensor.numel() == 0:
            warnings.warn(  # torch's text first, so filters written for torch's match
                f"Initializing zero-element tensors is a no-op (shape {tuple(tensor.shape)}, "
                f"{self.name}).",
                UserWarning,
                stacklevel=2,
            )
            return tensor
        if self.random and not (tensor.is_floating_point() or tensor.is_complex()):
            raise ConfigError(
                f"{self.name} draws random floats but the tensor has dtype {tensor.dtype}; "
                "expected a floating-point tensor. Hint: create it with dtype=torch.float32."
            )
        with torch.no_grad():
            self.fill_(tensor, TorchSource(generator), layout=layout, groups=groups)
        return tensor


# --- validation helpers used by the initializers' __post_init__ --------------------------


def set_float(spec, name: str, *, low=None, low_open=False, allow_none=False) -> None:
    """Check that field ``name`` is a finite real number (>= / > low) and store it as float."""
    value = getattr(spec, name)
    if value is None and allow_none:
        return
    if isinstance(value, torch.Tensor) and value.numel() == 1 and not value.is_complex():
        value = value.item()  # a 0-d (or one-element) tensor, as torch takes it
    if isinstance(value, numbers.Real) and not isinstance(value, bool | int | float):
        value = float(value)  # numpy scalars
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ConfigError(
            f"Invalid {name}={shown(repr(value))} for initializer '{spec.name}'; expected a "
            "finite number. "
            f"Hint: write {spec.name}({name}=1.0)."
        )
    value = float(value)
    if low is not None and (value < low or (low_open and value == low)):
        op = ">" if low_open else ">="
        raise ConfigError(
            f"Invalid {name}={value!r} for initializer '{spec.name}'; expected a number {op} {low}."
        )
    object.__setattr__(spec, name, value)


def set_choice(spec, name: str, allowed) -> None:
    """Check that field ``name`` is one of ``allowed`` (case-insensitive, stored lowercase)."""
    value = getattr(spec, name)
    low = value.lower() if isinstance(value, str) else value
    if low not in allowed:
        raise ConfigError(
            f"Invalid {name}={shown(repr(value))} for initializer '{spec.name}'."
            f"{did_you_mean(shown(value), allowed)} Allowed: {list(allowed)}."
        )
    object.__setattr__(spec, name, low)


# --- the registry ---------------------------------------------------------------------


def register(name: str, aliases: tuple[str, ...] = (), *, description: str = "",
             torch_equivalent: str | None = None):
    """Class decorator: register a frozen-dataclass Initializer under ``name`` and ``aliases``."""

    def deco(cls):
        if not (isinstance(cls, type) and issubclass(cls, Initializer) and is_dataclass(cls)
                and cls.__dataclass_params__.frozen):
            raise TypeError(f"@register('{name}') needs a frozen dataclass subclass of Initializer")
        for n in (name, *aliases):
            owner = _REGISTRY.get(n) or _REGISTRY.get(_ALIASES.get(n, ""))
            if owner is not None and owner.__qualname__ != cls.__qualname__:
                raise ValueError(f"initializer name '{n}' is already registered by {owner.__name__}")
        cls.name = name
        cls.aliases = tuple(aliases)
        doc = (cls.__dict__.get("__doc__") or "").strip()
        cls.description = description or (doc.splitlines()[0] if doc else "")
        cls.torch_equivalent = torch_equivalent
        _REGISTRY[name] = cls
        for a in aliases:
            _ALIASES[a] = name
        return cls

    return deco


def available(*, aliases: bool = False):
    """Registered initializer names, sorted; ``aliases=True``: ``{name: (alias, ...)}``."""
    names = sorted(_REGISTRY)
    if aliases:
        return {n: _REGISTRY[n].aliases for n in names}
    return names


def resolve_name(name: str) -> str:
    """The canonical registered name for ``name`` (an alias, any case, trailing ``_`` ok)."""
    key = name.strip().lower()
    for cand in (key, key.rstrip("_")):
        if cand in _REGISTRY:
            return cand
        if cand in _ALIASES:
            return _ALIASES[cand]
    known = sorted([*_REGISTRY, *_ALIASES])
    raise UnknownNameError(
        f"Unknown initializer '{shown(name)}'.{did_you_mean(key[:200], known)} Available: {available()} "
        f"(aliases: {sorted(_ALIASES)})."
    )


def aliases() -> dict[str, str]:
    """``{alias: canonical name}`` for every registered alias."""
    return dict(sorted(_ALIASES.items()))


def _literal(node: ast.AST, text: str, arg: str):
    try:
        return ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        seg = shown(ast.get_source_segment(text, node) or "?")
        raise ConfigError(
            f"Invalid value {seg} for argument '{arg}' in '{shown(text)}'; expected a Python literal "
            "(number, string, True/False/None). Hint: write 2.23606797749979, not math.sqrt(5)."
        ) from None


def _parse_call(text: str) -> tuple[str, list, dict[str, Any]]:
    """``"name(a, k=v)"`` -> (name as written, positional values, keyword values)."""
    bad = ConfigError(
        f"Cannot parse initializer spec '{shown(text)}'; expected 'name' or 'name(key=value, ...)' "
        "with literal values, e.g. \"kaiming_normal(mode='fan_out', nonlinearity='relu')\"."
    )
    try:
        body = ast.parse(text.strip(), mode="eval").body
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        raise bad from None
    if isinstance(body, ast.Name):
        return body.id, [], {}
    if not (isinstance(body, ast.Call) and isinstance(body.func, ast.Name)):
        raise bad
    if any(isinstance(node, ast.Starred) for node in body.args) or any(
            kw.arg is None for kw in body.keywords):
        raise bad
    args = [_literal(node, text, f"#{i}") for i, node in enumerate(body.args)]
    kwargs: dict[str, Any] = {}
    for kw in body.keywords:
        if kw.arg in kwargs:
            raise ConfigError(f"Argument '{kw.arg}' given twice in '{shown(text)}'.")
        kwargs[kw.arg] = _literal(kw.value, text, kw.arg)
    return body.func.id, args, kwargs


def _parse(text: str) -> tuple[str, dict[str, Any]]:
    """``"name(k=v, ...)"`` -> (canonical name, config); positional values map to fields."""
    bad = ConfigError(
        f"Cannot parse initializer spec '{shown(text)}'; expected 'name' or 'name(key=value, ...)' "
        "with literal values, e.g. \"kaiming_normal(mode='fan_out', nonlinearity='relu')\"."
    )
    try:
        body = ast.parse(text.strip(), mode="eval").body
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        raise bad from None
    if isinstance(body, ast.Name):
        return resolve_name(body.id), {}
    if not (isinstance(body, ast.Call) and isinstance(body.func, ast.Name)):
        raise bad
    name = resolve_name(body.func.id)
    order = [f.name for f in fields(_REGISTRY[name]) if f.init]
    config: dict[str, Any] = {}
    if len(body.args) > len(order):
        raise ConfigError(
            f"Too many positional arguments in '{shown(text)}': {name} takes at most {len(order)} "
            f"({order}). Hint: name them, e.g. {name}({order[0] if order else 'x'}=...)."
        )
    for field_name, node in zip(order, body.args):
        if isinstance(node, ast.Starred):
            raise bad
        config[field_name] = _literal(node, text, field_name)
    for kw in body.keywords:
        if kw.arg is None:
            raise bad
        if kw.arg in config:
            raise ConfigError(f"Argument '{kw.arg}' given twice in '{shown(text)}'.")
        config[kw.arg] = _literal(kw.value, text, kw.arg)
    return name, config


def get(spec) -> Initializer | None:
    """An Initializer from a spec string, a dict, an Initializer, or None (returned as None).

    Args:
        spec: ``"kaiming_normal(mode='fan_out')"``, a Keras class name (``"HeNormal"``,
            Keras semantics), ``{"name", "config"}``, Keras' serialized
            ``{"class_name", "config"}`` (seed included), an Initializer or its class, or
            None (as Keras' ``initializers.get(None)``).

    Returns:
        The spec, or None for None.
    """
    if spec is None:
        return None
    if isinstance(spec, Initializer):
        return spec
    if isinstance(spec, type) and issubclass(spec, Initializer) and spec.name in _REGISTRY:
        return spec()
    if isinstance(spec, str):
        from initlab.init import keras_interop as _keras

        if _keras.is_keras_name(spec):
            return _keras.from_keras_text(spec, _parse_call)
        name, config = _parse(spec)
        return _REGISTRY[name].from_config(config)
    if isinstance(spec, dict) and "class_name" in spec:
        from initlab.init import keras_interop as _keras

        return _keras.from_keras(spec)
    if isinstance(spec, dict):
        extra = set(spec) - {"name", "config"}
        if "name" not in spec or extra or not isinstance(spec["name"], str):
            raise ConfigError(
                f"An initializer dict needs the keys 'name' (a string) and optionally 'config'; "
                f"got keys {shown(sorted(spec, key=repr))}. Hint: {{'name': 'kaiming_normal', 'config': "
                "{'mode': 'fan_out'}}."
            )
        return _REGISTRY[resolve_name(spec["name"])].from_config(spec.get("config") or {})
    raise ConfigError(
        f"Cannot make an initializer from {type(spec).__name__}; expected a spec string, a "
        "{'name', 'config'} dict or an Initializer. Hint: initlab.available() lists the names."
    )
