"""Initializer specs: the base class, the registry, and ``get`` / ``available``.

Every initializer is a frozen dataclass registered under a name (and aliases)::

    @register("kaiming_normal", aliases=("he_normal",))
    @dataclass(frozen=True)
    class KaimingNormal(Initializer):
        a: float = 0.0
        ...

A spec is data: ``spec.to_dict()`` is JSON-safe, ``str(spec)`` is
``"kaiming_normal(a=0.0, mode='fan_in', nonlinearity='leaky_relu')"``, and
``initlab.init.get(...)`` (:mod:`initlab.init.parse`) turns either form back into an equal
spec. The catalog itself is ``INITIALIZERS``, a :class:`initlab._core.registry.Registry`.
"""

from __future__ import annotations

import math
import numbers
import warnings
from collections.abc import Callable, Collection, Sequence
from dataclasses import MISSING, fields, is_dataclass
from typing import Any, ClassVar, Literal, TypeVar, overload

import torch

from initlab._core.registry import Registry
from initlab.errors import ConfigError, did_you_mean, shown
from initlab.init.source import Source, TorchSource

__all__ = ["Initializer", "INITIALIZERS", "register", "available", "aliases", "aliases_by_name",
           "resolve_name"]

Shape = Sequence[int]
InitT = TypeVar("InitT", bound="type[Initializer]")


def _candidates(name: str) -> tuple[str, ...]:
    key = name.strip().lower()
    return (key, key.rstrip("_")) if key.endswith("_") else (key,)


#: The initializer catalog: name (any case, trailing ``_`` ok) or alias -> spec class.
INITIALIZERS: Registry[type[Initializer]] = Registry(
    "initializer", normalize=_candidates, show_aliases=True)


class Initializer:
    """Base class of every initializer spec (subclasses are frozen dataclasses).

    Class attributes a subclass may set:

    * ``elementwise``: every element is an iid draw from one distribution, so a shard can
      be filled on its own from a keyed stream (the policy layer relies on it).
    * ``random``: the initializer draws random numbers (False: deterministic, e.g. ``eye``).
    * ``example_shape``: a weight shape it supports, and ``example_config``: a cheap config
      (e.g. few iterations); the registry-wide contract tests use both.

    Examples:
        >>> spec = INITIALIZERS.get("kaiming_normal")(mode="fan_out")
        >>> isinstance(spec, Initializer), spec.to_dict()["name"], spec.expected_std((8, 4))
        (True, 'kaiming_normal', 0.5)
        >>> spec(torch.empty(8, 4), generator=torch.Generator().manual_seed(0)).shape
        torch.Size([8, 4])
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
    def fill_(self, tensor: torch.Tensor, source: Source, *, layout: str | None = None,
              groups: int = 1) -> torch.Tensor:
        """Fill ``tensor`` in place from ``source``; the caller holds ``torch.no_grad()``."""
        raise NotImplementedError

    def expected_std(self, shape: Shape, *, layout: str | None = None,
                     groups: int = 1) -> float | None:
        """The standard deviation of the entries this init gives for ``shape`` (None: n/a)."""
        return None

    # --- config and serialization ----------------------------------------------------
    def get_config(self) -> dict[str, Any]:
        """The spec's arguments, JSON-safe (tuples become lists in JSON)."""
        config: dict[str, Any] = {}
        for f in fields(self):  # type: ignore[arg-type]  # subclasses are dataclasses
            value = getattr(self, f.name)
            if not f.init or (f.name in self.quiet_defaults and f.default is not MISSING
                              and value == f.default):
                continue
            config[f.name] = value
        return config

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Initializer:
        """The spec of this class with ``config`` (checked against its fields)."""
        if not isinstance(config, dict):
            raise ConfigError(
                f"Config of initializer '{cls.name}' must be a dict; got {type(config).__name__}. "
                "Hint: use {'name': ..., 'config': {...}}."
            )
        allowed = [f.name for f in fields(cls) if f.init]  # type: ignore[arg-type]
        for key in config:
            if key not in allowed:
                raise ConfigError(
                    f"Unknown argument '{shown(key)}' for initializer '{cls.name}'."
                    f"{did_you_mean(shown(key), allowed)} Allowed: {allowed}."
                )
        return cls(**config)

    def to_dict(self) -> dict[str, Any]:
        """``{"name": ..., "config": {...}}``, JSON-safe; ``get()`` reads it back."""
        return {"name": self.name, "config": self.get_config()}

    def to_keras_config(self) -> dict[str, Any]:
        """Keras 3's serialized form of this spec (see :mod:`initlab.init.keras_interop`)."""
        from initlab.init.keras_interop import to_keras_config

        return to_keras_config(self)

    def to_keras(self) -> Any:
        """The equivalent Keras initializer object (Keras must be installed)."""
        from initlab.init.keras_interop import to_keras

        return to_keras(self)

    def to_jax_config(self) -> dict[str, Any]:
        """The equivalent ``jax.nn.initializers`` function name and arguments."""
        from initlab.init.jax_interop import to_jax_config

        return to_jax_config(self)

    def to_jax(self) -> Callable[..., Any]:
        """The equivalent JAX initializer function (JAX must be installed)."""
        from initlab.init.jax_interop import to_jax

        return to_jax(self)

    def __str__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{self.name}({args})"

    # --- the functional path ---------------------------------------------------------
    def __call__(self, tensor: torch.Tensor, *, generator: torch.Generator | None = None,
                 layout: str | None = None, groups: int = 1) -> torch.Tensor:
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


def set_float(spec: Initializer, name: str, *, low: float | None = None, low_open: bool = False,
              allow_none: bool = False) -> None:
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


def set_choice(spec: Initializer, name: str, allowed: Collection[str]) -> None:
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
             torch_equivalent: str | None = None) -> Callable[[InitT], InitT]:
    """Class decorator: register a frozen-dataclass Initializer under ``name`` and ``aliases``.

    Args:
        name: the canonical name (lowercase, as in ``get("name(...)")``).
        aliases: other names it answers to.
        description: one line for ``initlab list`` (default: the docstring's first line).
        torch_equivalent: the ``torch.nn.init`` function it matches, if any.

    Returns:
        The decorator; it returns the class with ``name``, ``aliases`` and ``description`` set.

    Raises:
        TypeError: the class is not a frozen dataclass subclass of Initializer.
        ConfigError: a name is already registered by another class (a ValueError).

    Examples:
        >>> from dataclasses import dataclass
        >>> @register("_doc_half")
        ... @dataclass(frozen=True)
        ... class Half(Initializer):
        ...     "Every entry 0.5."
        ...     random = False
        ...     def fill_(self, tensor, source, *, layout=None, groups=1):
        ...         return tensor.fill_(0.5)
        >>> Half()(torch.empty(2)).tolist(), Half.description
        ([0.5, 0.5], 'Every entry 0.5.')
        >>> _ = INITIALIZERS.remove("_doc_half")
    """

    def deco(cls: InitT) -> InitT:
        if not (isinstance(cls, type) and issubclass(cls, Initializer) and is_dataclass(cls)
                and cls.__dataclass_params__.frozen):
            raise TypeError(f"@register('{name}') needs a frozen dataclass subclass of Initializer")
        owners = [INITIALIZERS.get(n) for n in (name, *aliases) if n in INITIALIZERS]
        # the same class again (a module reloaded) replaces itself; another class is an error
        same = bool(owners) and all(o.__qualname__ == cls.__qualname__ for o in owners)
        if owners and not same:
            other = next(o for o in owners if o.__qualname__ != cls.__qualname__)
            raise ConfigError(
                f"initializer name '{name}' is already registered by {other.__name__}; "
                "expected a new name.")
        cls.name = name
        cls.aliases = tuple(aliases)
        doc = (cls.__dict__.get("__doc__") or "").strip()
        cls.description = description or (doc.splitlines()[0] if doc else "")
        cls.torch_equivalent = torch_equivalent
        INITIALIZERS.add(name, cls, aliases=aliases, replace=same)
        return cls

    return deco


@overload
def available() -> list[str]: ...


@overload
def available(*, aliases: Literal[False]) -> list[str]: ...


@overload
def available(*, aliases: Literal[True]) -> dict[str, tuple[str, ...]]: ...


def available(*, aliases: bool = False) -> list[str] | dict[str, tuple[str, ...]]:
    """Registered initializer names, sorted.

    Args:
        aliases: deprecated; ``True`` returns :func:`aliases_by_name` (with a warning).

    Returns:
        The canonical names (aliases left out).

    Examples:
        >>> names = available()
        >>> "kaiming_normal" in names and "he_normal" not in names
        True
    """
    if aliases:
        warnings.warn("available(aliases=True) is deprecated; use aliases_by_name().",
                      DeprecationWarning, stacklevel=2)
        return aliases_by_name()
    return INITIALIZERS.names()


def aliases_by_name() -> dict[str, tuple[str, ...]]:
    """``{name: (alias, ...)}`` for every registered initializer, sorted by name.

    Returns:
        A new dict (an initializer without aliases maps to ``()``).

    Examples:
        >>> aliases_by_name()["kaiming_normal"]
        ('he_normal',)
    """
    return {n: cls.aliases for n, cls in INITIALIZERS.items()}


def resolve_name(name: str) -> str:
    """The canonical registered name for ``name`` (an alias, any case, trailing ``_`` ok).

    Args:
        name: a name as written.

    Returns:
        The canonical name.

    Raises:
        UnknownNameError: nothing is registered under ``name`` (with the closest match).

    Examples:
        >>> resolve_name("He_Normal_")
        'kaiming_normal'
    """
    return INITIALIZERS.resolve(name)


def aliases() -> dict[str, str]:
    """``{alias: canonical name}`` for every registered alias.

    Returns:
        A new dict, sorted by alias.

    Examples:
        >>> aliases()["he_normal"]
        'kaiming_normal'
    """
    return INITIALIZERS.aliases()
