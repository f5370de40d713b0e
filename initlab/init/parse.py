"""Initializer specs from text, dicts and Keras' forms: ``get``.

``get("kaiming_normal(mode='fan_out')")`` parses the string with ``ast`` (only literal
argument values are accepted; nothing is evaluated), ``get({"name", "config"})`` reads the
serialized form, and Keras class names and serialized dicts are read with Keras' semantics
(:mod:`initlab.init.keras_interop`).
"""

from __future__ import annotations

import ast
from dataclasses import fields
from typing import Any

import initlab.init.keras_interop as _keras
from initlab.errors import ConfigError, shown
from initlab.init.registry import INITIALIZERS, Initializer, resolve_name

__all__ = ["get"]

SpecLike = str | dict[str, Any] | Initializer | type[Initializer] | None


def _literal(node: ast.AST, text: str, arg: str) -> Any:
    try:
        return ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        seg = shown(ast.get_source_segment(text, node) or "?")
        raise ConfigError(
            f"Invalid value {seg} for argument '{arg}' in '{shown(text)}'; expected a Python literal "
            "(number, string, True/False/None). Hint: write 2.23606797749979, not math.sqrt(5)."
        ) from None


def _call_nodes(text: str) -> tuple[str, list[ast.expr], list[ast.keyword]]:
    """``"name(a, k=v)"`` -> (name as written, positional nodes, keyword nodes); refuses
    anything but a bare name or a call of one with plain (not starred) arguments."""
    bad = ConfigError(
        f"Cannot parse initializer spec '{shown(text)}'; expected 'name' or 'name(key=value, ...)' "
        "with literal values, e.g. \"kaiming_normal(mode='fan_out', nonlinearity='relu')\"."
    )
    try:
        body = ast.parse(text.strip(), mode="eval").body
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        raise bad from None
    if isinstance(body, ast.Name):
        return body.id, [], []
    if not (isinstance(body, ast.Call) and isinstance(body.func, ast.Name)):
        raise bad
    if any(isinstance(node, ast.Starred) for node in body.args) or any(
            kw.arg is None for kw in body.keywords):
        raise bad
    return body.func.id, list(body.args), list(body.keywords)


def _add_keywords(keywords: list[ast.keyword], text: str, into: dict[str, Any]) -> dict[str, Any]:
    for kw in keywords:
        assert kw.arg is not None  # **kwargs refused by _call_nodes
        if kw.arg in into:
            raise ConfigError(f"Argument '{kw.arg}' given twice in '{shown(text)}'.")
        into[kw.arg] = _literal(kw.value, text, kw.arg)
    return into


def _parse_call(text: str) -> tuple[str, list[Any], dict[str, Any]]:
    """``"name(a, k=v)"`` -> (name as written, positional values, keyword values)."""
    name, args, keywords = _call_nodes(text)
    values = [_literal(node, text, f"#{i}") for i, node in enumerate(args)]
    return name, values, _add_keywords(keywords, text, {})


def _parse(text: str) -> tuple[str, dict[str, Any]]:
    """``"name(k=v, ...)"`` -> (canonical name, config); positional values map to fields."""
    written, args, keywords = _call_nodes(text)
    name = resolve_name(written)
    if not args and not keywords:
        return name, {}
    order = [f.name for f in fields(INITIALIZERS.get(name)) if f.init]  # type: ignore[arg-type]
    if len(args) > len(order):
        raise ConfigError(
            f"Too many positional arguments in '{shown(text)}': {name} takes at most {len(order)} "
            f"({order}). Hint: name them, e.g. {name}({order[0] if order else 'x'}=...)."
        )
    config = {field: _literal(node, text, field) for field, node in zip(order, args)}
    return name, _add_keywords(keywords, text, config)


def get(spec: SpecLike) -> Initializer | None:
    """An Initializer from a spec string, a dict, an Initializer, or None (returned as None).

    Args:
        spec: ``"kaiming_normal(mode='fan_out')"``, a Keras class name (``"HeNormal"``,
            Keras semantics), ``{"name", "config"}``, Keras' serialized
            ``{"class_name", "config"}`` (seed included), an Initializer or its class, or
            None (as Keras' ``initializers.get(None)``).

    Returns:
        The spec, or None for None.

    Raises:
        UnknownNameError: an unknown initializer name (with the closest match).
        ConfigError: a spec that cannot be parsed, or an invalid argument.

    Examples:
        >>> spec = get("kaiming_normal(mode='fan_out', nonlinearity='relu')")
        >>> str(spec)
        "kaiming_normal(a=0.0, mode='fan_out', nonlinearity='relu')"
        >>> get(spec.to_dict()) == spec, get("he_normal") == get("kaiming_normal")
        (True, True)
    """
    if spec is None:
        return None
    if isinstance(spec, Initializer):
        return spec
    if isinstance(spec, type) and issubclass(spec, Initializer) and spec.name in INITIALIZERS:
        return spec()
    if isinstance(spec, str):
        if _keras.is_keras_name(spec):
            return _keras.from_keras_text(spec, _parse_call, make=_get_spec)
        name, config = _parse(spec)
        return INITIALIZERS.get(name).from_config(config)
    if isinstance(spec, dict) and "class_name" in spec:
        return _keras.from_keras(spec, make=_get_spec)
    if isinstance(spec, dict):
        extra = set(spec) - {"name", "config"}
        if "name" not in spec or extra or not isinstance(spec["name"], str):
            raise ConfigError(
                f"An initializer dict needs the keys 'name' (a string) and optionally 'config'; "
                f"got keys {shown(sorted(spec, key=repr))}. Hint: {{'name': 'kaiming_normal', 'config': "
                "{'mode': 'fan_out'}}."
            )
        return INITIALIZERS.get(spec["name"]).from_config(spec.get("config") or {})
    raise ConfigError(
        f"Cannot make an initializer from {type(spec).__name__}; expected a spec string, a "
        "{'name', 'config'} dict or an Initializer. Hint: initlab.available() lists the names."
    )


def _get_spec(spec: SpecLike) -> Initializer:
    """``get`` for a value that is not None (the Keras readers' constructor)."""
    out = get(spec)
    if out is None:
        raise ConfigError("Expected an initializer spec; got None.")
    return out
