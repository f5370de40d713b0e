"""The μP base model: the ``Base`` type, and the attention modules (with their head dims)
found in a model (part of :mod:`initlab.scaling.mup`)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from torch import nn

from initlab.errors import ConfigError

Base = nn.Module | Callable[[int], nn.Module] | dict[str, dict]
"""What a μP base is: a model, ``make_model`` (built at the base width) or base shapes."""


def head_dims(base: Base, base_width: int | None = None) -> dict[str, int]:
    """``{attention module: head_dim}`` of a model (or ``make_model(base_width)`` on meta).

    Attention modules are those with a float ``scaling`` and an int ``head_dim`` (HF layout).

    Args:
        base: a model, or ``make_model`` (built at ``base_width`` on the meta device); a base
            shapes dict gives ``{}``.
        base_width: the width to build ``make_model`` at.

    Returns:
        ``{module name: head_dim}``.

    Raises:
        ConfigError: ``base`` is a function and ``base_width`` is None.

    Examples:
        >>> from initlab.scaling.models import Transformer
        >>> head_dims(lambda w: Transformer(w, depth=1, heads=2), base_width=32)
        {'blocks.0.attn': 16}
    """
    return _head_dims(base, base_width)


def _head_dims(base: Base, base_width: int | None) -> dict[str, int]:
    import torch

    if isinstance(base, dict):
        return {}
    if isinstance(base, nn.Module):
        model = base
    else:
        if base_width is None:
            raise ConfigError("base_width is required when base is a function (make_model); "
                              "got None. Hint: head_dims(make_model, base_width=64).")
        with torch.random.fork_rng(devices=[]), torch.device("meta"):
            model = base(base_width)
    return {name: int(d) for name, _, d in _attention_modules(model)}


def _attention_modules(model: nn.Module) -> Iterator[tuple[str, nn.Module, int]]:
    """(name, module, head_dim) of modules with a float ``scaling`` and an int ``head_dim``."""
    for name, m in model.named_modules():
        d = getattr(m, "head_dim", None)
        if isinstance(getattr(m, "scaling", None), float) and isinstance(d, int) and d > 0:
            yield name, m, d


def _related(a: str, b: str) -> bool:
    return a == b or a.startswith(b + ".") or b.startswith(a + ".") or not a or not b


def _unsettable_attention(model: nn.Module, settable: set[str]) -> list[str]:
    """Attention modules (by class name) with no settable ``scaling`` in or around them."""
    out: list[str] = []
    for name, m in model.named_modules():
        if "attention" not in type(m).__name__.lower():
            continue
        if not any(_related(name, s) for s in settable) and not any(_related(name, o) for o in out):
            out.append(name)
    return out
