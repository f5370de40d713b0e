"""Keras initializers in and out: class names, the serialized form, ``spec.to_keras()``.

Reading: ``initlab.get("HeNormal")``, ``initlab.get("VarianceScaling(scale=2.0)")`` and
``initlab.get({"class_name": "HeNormal", "config": {"seed": 3}})`` (Keras 2 and 3
serialized forms) give the initlab spec with Keras' semantics: a CamelCase Keras name
means what it means in Keras (``GlorotNormal`` and ``HeNormal`` are *truncated*; initlab's
snake-case ``glorot_normal`` / ``he_normal`` are torch's untruncated ones). A seed becomes
``seeded(init=..., seed=...)``; Keras' legacy ``distribution='normal'`` means truncated.

Writing: ``spec.to_keras_config()`` gives Keras 3's serialized dict and ``spec.to_keras()``
the Keras object (Keras must be installed). Fans follow each framework's convention (torch
(out, in), Keras (in, out)), so the same spec means the same distribution in both.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from initlab.errors import ConfigError, UnknownNameError, did_you_mean, shown

__all__ = ["KERAS_CLASSES", "is_keras_name", "from_keras", "from_keras_text", "to_keras_config",
           "to_keras"]


def _vs(scale: float, mode: str,
        distribution: str) -> Callable[[dict[str, Any]], dict[str, Any]]:
    return lambda c: {"name": "variance_scaling", "config": {
        "scale": scale, "mode": mode, "distribution": distribution}}


def _keras_distribution(value: str) -> str:
    # Keras 2's 'normal' was a truncated normal; Keras 3 reads it the same way
    return {"normal": "truncated_normal"}.get(value, value)


# Keras class name -> (its config keys in positional order, config -> initlab spec dict)
KERAS_CLASSES: dict[str, tuple[tuple[str, ...], Callable[[dict], dict]]] = {
    "Zeros": ((), lambda c: {"name": "zeros"}),
    "Ones": ((), lambda c: {"name": "ones"}),
    "Constant": (("value",), lambda c: {"name": "constant", "config": {"val": c.get("value", 0.0)}}),
    "RandomUniform": (("minval", "maxval", "seed"), lambda c: {"name": "uniform", "config": {
        "a": c.get("minval", -0.05), "b": c.get("maxval", 0.05)}}),
    "RandomNormal": (("mean", "stddev", "seed"), lambda c: {"name": "normal", "config": {
        "mean": c.get("mean", 0.0), "std": c.get("stddev", 0.05)}}),
    "TruncatedNormal": (("mean", "stddev", "seed"), lambda c: {
        "name": "trunc_normal_std", "config": {
            "mean": c.get("mean", 0.0), "std": c.get("stddev", 0.05), "a": -2.0, "b": 2.0}}),
    "VarianceScaling": (("scale", "mode", "distribution", "seed"), lambda c: {
        "name": "variance_scaling", "config": {
            "scale": c.get("scale", 1.0), "mode": c.get("mode", "fan_in"),
            "distribution": _keras_distribution(c.get("distribution", "truncated_normal"))}}),
    "GlorotUniform": (("seed",), lambda c: {"name": "xavier_uniform"}),
    "GlorotNormal": (("seed",), _vs(1.0, "fan_avg", "truncated_normal")),
    "HeUniform": (("seed",), lambda c: {"name": "kaiming_uniform",
                                        "config": {"nonlinearity": "relu"}}),
    "HeNormal": (("seed",), _vs(2.0, "fan_in", "truncated_normal")),
    "LecunUniform": (("seed",), lambda c: {"name": "lecun_uniform"}),
    "LecunNormal": (("seed",), lambda c: {"name": "lecun_normal"}),
    "Orthogonal": (("gain", "seed"), lambda c: {"name": "orthogonal",
                                                "config": {"gain": c.get("gain", 1.0)}}),
    "Identity": (("gain",), lambda c: {"name": "identity", "config": {"gain": c.get("gain", 1.0)}}),
}
KERAS_CLASSES["IdentityInitializer"] = KERAS_CLASSES["Identity"]
KERAS_CLASSES["OrthogonalInitializer"] = KERAS_CLASSES["Orthogonal"]


def _head(text: str) -> str:
    return text.split("(", 1)[0].strip()


def is_keras_name(text: str) -> bool:
    """Whether ``text`` starts with a Keras class name (CamelCase, as Keras writes it).

    Args:
        text: a spec string.

    Returns:
        True for e.g. ``"HeNormal"`` or ``"VarianceScaling(scale=2.0)"``.
    """
    head = _head(text)
    return head in KERAS_CLASSES and head[:1].isupper()


def _build(class_name: str, config: dict[str, Any], make: Callable[[Any], Any]) -> Any:
    keys, convert = KERAS_CLASSES[class_name]
    for key in config:
        if key not in keys:
            raise ConfigError(
                f"Unknown argument '{shown(key)}' for Keras initializer '{class_name}'."
                f"{did_you_mean(shown(key), keys)} Allowed: {list(keys)}.")
    spec = make(convert(config))
    seed = config.get("seed")
    if seed is None:
        return spec
    return make({"name": "seeded", "config": {"init": spec.to_dict(), "seed": seed}})


def from_keras(serialized: dict[str, Any], *, make: Callable[[Any], Any]) -> Any:
    """The initlab spec for Keras' serialized ``{"class_name", "config"}`` dict.

    Users call ``initlab.init.get(serialized)``, which passes its own constructor.

    Args:
        serialized: Keras 2 (``class_name``, ``config``) or Keras 3 (plus ``module`` and
            ``registered_name``) form.
        make: turns an initlab spec dict into a spec (``initlab.init.get``; passed in so
            this module does not import the parser that imports it).

    Returns:
        The spec (``seeded(...)`` when the config has a seed).
    """
    class_name = serialized.get("class_name")
    extra = set(serialized) - {"class_name", "config", "module", "registered_name"}
    if extra or not isinstance(class_name, str):
        raise ConfigError(
            f"A Keras initializer dict needs 'class_name' (a string) and 'config'; got keys "
            f"{shown(sorted(serialized, key=repr))}. Hint: {{'class_name': 'HeNormal', "
            "'config': {'seed': None}}.")
    if class_name not in KERAS_CLASSES:
        raise UnknownNameError(
            f"Unknown Keras initializer '{shown(class_name)}'.{did_you_mean(class_name, KERAS_CLASSES)}"
            f" Known: {sorted(KERAS_CLASSES)}.")
    config = serialized.get("config") or {}
    if not isinstance(config, dict):
        raise ConfigError(
            f"The config of Keras initializer '{class_name}' must be a dict; got "
            f"{type(config).__name__}.")
    return _build(class_name, config, make)


def from_keras_text(text: str, parse: Callable[[str], tuple[str, list[Any], dict[str, Any]]], *,
                    make: Callable[[Any], Any]) -> Any:
    """The spec for ``"HeNormal"`` or ``"VarianceScaling(2.0, mode='fan_out')"``.

    Args:
        text: a Keras class name, optionally called with literal arguments.
        parse: the registry's call parser (name, positional values, keyword values).
        make: turns an initlab spec dict into a spec (``initlab.init.get``).

    Returns:
        The spec.
    """
    name, args, kwargs = parse(text)
    keys = KERAS_CLASSES[name][0]
    if len(args) > len(keys):
        raise ConfigError(
            f"Too many positional arguments in '{shown(text)}': Keras' {name} takes at most "
            f"{len(keys)} ({list(keys)}).")
    config = dict(zip(keys, args))
    for key, value in kwargs.items():
        if key in config:
            raise ConfigError(f"Argument '{key}' given twice in '{shown(text)}'.")
        config[key] = value
    return _build(name, config, make)


# --- writing --------------------------------------------------------------------------------


def _no_keras(spec: Any, why: str = "") -> ConfigError:
    return ConfigError(
        f"{spec} has no Keras equivalent{why}. Hint: Keras has Zeros, Ones, Constant, "
        "RandomUniform, RandomNormal, TruncatedNormal, VarianceScaling, Glorot*, He*, Lecun*, "
        "Orthogonal and Identity.")


def _untruncated(name: str) -> str:
    return {"normal": "untruncated_normal"}.get(name, name)


def _scaled(spec: Any, scale: float, mode: str, distribution: str) -> tuple[str, dict]:
    if mode == "fan_geo_avg":
        raise _no_keras(spec, " (Keras has no mode 'fan_geo_avg')")
    named = {(1.0, "fan_avg", "uniform"): "GlorotUniform",
             (1.0, "fan_avg", "truncated_normal"): "GlorotNormal",
             (2.0, "fan_in", "uniform"): "HeUniform", (2.0, "fan_in", "truncated_normal"): "HeNormal",
             (1.0, "fan_in", "uniform"): "LecunUniform",
             (1.0, "fan_in", "truncated_normal"): "LecunNormal"}
    for (s, m, d), class_name in named.items():
        if math.isclose(scale, s, rel_tol=1e-12) and (m, d) == (mode, distribution):
            return class_name, {"seed": None}
    return "VarianceScaling", {"scale": scale, "mode": mode,
                               "distribution": _untruncated(distribution), "seed": None}


def _truncated_pair(spec: Any, c: dict[str, Any], lo: float,
                    hi: float) -> tuple[str, dict[str, Any]]:
    if not (math.isclose(lo, -2.0) and math.isclose(hi, 2.0)):
        raise _no_keras(spec, " (Keras' TruncatedNormal cuts at mean ± 2 std only)")
    return "TruncatedNormal", {"mean": c["mean"], "stddev": c["std"], "seed": None}


def _scaled_pair(spec: Any, c: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    from initlab.init.jax_interop import variance_scaling_of

    scale, mode, distribution, axes = variance_scaling_of(spec)
    if axes:
        raise _no_keras(spec, " (Keras has no per-axis fans)")
    return _scaled(spec, scale, mode, distribution)


def _orthogonal_pair(spec: Any, c: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    if c.get("column_axis") is not None:
        raise _no_keras(spec, " with column_axis (Keras' Orthogonal has none)")
    return "Orthogonal", {"gain": c["gain"], "seed": None}


def _seeded_pair(spec: Any, c: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    class_name, config = _keras_pair(spec.init)
    if "seed" not in config:
        raise _no_keras(spec, f" (Keras' {class_name} takes no seed)")
    return class_name, {**config, "seed": spec.seed}


# initlab name -> (spec, its config) -> (Keras class name, Keras config)
_WRITERS: dict[str, Callable[[Any, dict], tuple[str, dict]]] = {
    "zeros": lambda s, c: ("Zeros", {}),
    "ones": lambda s, c: ("Ones", {}),
    "constant": lambda s, c: ("Constant", {"value": c["val"]}),
    "uniform": lambda s, c: ("RandomUniform", {"minval": c["a"], "maxval": c["b"], "seed": None}),
    "normal": lambda s, c: ("RandomNormal", {"mean": c["mean"], "stddev": c["std"], "seed": None}),
    "trunc_normal_std": lambda s, c: _truncated_pair(s, c, c["a"], c["b"]),
    "trunc_normal": lambda s, c: _truncated_pair(
        s, c, (c["a"] - c["mean"]) / c["std"], (c["b"] - c["mean"]) / c["std"]),
    **{n: _scaled_pair for n in ("variance_scaling", "xavier_uniform", "xavier_normal",
                                 "kaiming_uniform", "kaiming_normal", "lecun_uniform",
                                 "lecun_normal", "default")},
    "orthogonal": _orthogonal_pair,
    "identity": lambda s, c: ("Identity", {"gain": c.get("gain", 1.0)}),
    "eye": lambda s, c: ("Identity", {"gain": 1.0}),
    "seeded": _seeded_pair,
}


def _keras_pair(spec: Any) -> tuple[str, dict]:
    writer = _WRITERS.get(spec.name)
    if writer is None:
        raise _no_keras(spec)
    return writer(spec, spec.get_config())


def to_keras_config(spec: Any) -> dict[str, Any]:
    """Keras 3's serialized form of ``spec`` (``keras.initializers.deserialize`` reads it).

    Args:
        spec: an initlab Initializer.

    Returns:
        ``{"module": "keras.initializers", "class_name", "config", "registered_name": None}``.
    """
    class_name, config = _keras_pair(spec)
    return {"module": "keras.initializers", "class_name": class_name, "config": config,
            "registered_name": None}


def to_keras(spec: Any) -> Any:
    """The Keras initializer object equivalent to ``spec`` (needs Keras installed).

    Args:
        spec: an initlab Initializer.

    Returns:
        A ``keras.initializers.Initializer``.
    """
    try:
        import keras
    except ImportError:
        raise ConfigError(
            f"{spec}.to_keras() needs Keras, which is not installed. Hint: pip install keras, "
            "or use to_keras_config() for the serialized dict.") from None
    return keras.initializers.deserialize(to_keras_config(spec))
