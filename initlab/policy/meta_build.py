"""Build a model with its parameters on the meta device and everything else for real.

``torch.device("meta")`` puts every tensor on meta, which breaks model code that computes
with tensors while it builds (torchvision's RegNet rounds block widths with ``torch.round``)
and loses the values constructors compute (buffers, layer-scale constants). ``build_meta``
moves only the parameters to meta, as they are registered: buffers and any computation stay
on the CPU, the constructor values of small parameters are kept for ``materialize`` (its
"keep" rows and constants), and no parameter memory is allocated for long.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import torch
from torch import nn

from initlab.policy.native import CONSTRUCTOR_VALUES

__all__ = ["build_meta", "params_on_meta", "SMALL"]

SMALL = 4096  # parameters of at most this many elements keep their constructor values


@contextlib.contextmanager
def params_on_meta(captured: dict[int, tuple[nn.Parameter, torch.Tensor]]) -> Iterator[None]:
    """Within it, every registered parameter is moved to the meta device; buffers stay put.

    Args:
        captured: filled with {id(meta parameter): (the parameter, its constructor value)}
            for parameters of at most :data:`SMALL` elements.
    """
    register = nn.Module.register_parameter

    def on_meta(module: nn.Module, name: str, param: nn.Parameter | None) -> None:
        register(module, name, param)
        p = module._parameters.get(name)
        if p is None or p.is_meta:
            return
        if type(p) is nn.Parameter:
            meta = nn.Parameter(p.detach().to("meta"), requires_grad=p.requires_grad)
        else:
            kwargs = dict(p.__dict__)
            kwargs["requires_grad"] = p.requires_grad
            meta = type(p)(p.detach().to("meta"), **kwargs)
        module._parameters[name] = meta
        if p.numel() <= SMALL:
            captured[id(meta)] = (meta, p.detach())

    # patching torch's method for the duration of the build (mypy forbids assigning methods)
    nn.Module.register_parameter = on_meta  # type: ignore[method-assign, assignment]
    try:
        yield
    finally:
        nn.Module.register_parameter = register  # type: ignore[method-assign]


def build_meta(fn: Callable[..., nn.Module], *args: Any, **kwargs: Any) -> nn.Module:
    """``fn(*args, **kwargs)`` with every parameter on the meta device, buffers on the CPU.

    Args:
        fn: builds the model (a class or a factory).
        *args: its positional arguments.
        **kwargs: its keyword arguments.

    Returns:
        The model, ready for :func:`initlab.materialize` (which keeps the buffers as built).

    Examples:
        >>> from initlab.policy.materialize import materialize
        >>> net = build_meta(lambda: nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8)))
        >>> net[0].weight.is_meta, net[1].running_var.is_meta
        (True, False)
        >>> net = materialize(net, "auto", seed=0)
        >>> net[0].weight.device.type, net[1].running_var.tolist() == [1.0] * 8
        ('cpu', True)
    """
    captured: dict[int, tuple[nn.Parameter, torch.Tensor]] = {}
    with params_on_meta(captured):
        model = fn(*args, **kwargs)
    values = {}
    for name, p in model.named_parameters():
        entry = captured.get(id(p))
        if entry is not None and entry[0] is p:
            values[name] = entry[1]
    model.__dict__[CONSTRUCTOR_VALUES] = values
    return model
