"""Fan-in and fan-out of a weight, for every layer type.

``fans(weight_or_shape, layout=None, groups=1) -> (fan_in, fan_out)``

=================  =========================================  =====================================
layout             stored shape                               (fan_in, fan_out)
=================  =========================================  =====================================
``None``           any, >= 2 dims                             torch's: (size(1)·rf, size(0)·rf)
``"linear"``       (out, in)                                  (in, out)
``"conv"``         (out, in/groups, k...)                     (in/groups·rf, out/groups·rf)
``"conv_transpose"`` (in, out/groups, k...)                   (in/groups·rf, out/groups·rf)
``"embedding"``    (num_embeddings, dim)                      (1, dim)
=================  =========================================  =====================================

rf is the receptive field, prod(k...). ``None`` reproduces ``torch.nn.init`` exactly (so the
functional API stays bit-identical to torch); it ignores ``groups`` and is wrong for
transposed convolutions (fans swapped, pytorch#7865) and for the fan-out of grouped ones
(too large by ``groups``, pytorch#23854). The policy layer always passes the layout.

Embedding: a lookup is a one-hot vector times the table, so each output coordinate is a
single weight (fan_in = 1, which gives torch's N(0, 1) default for unit gain), and the
gradient reaching the input side sums over ``dim`` outputs (fan_out = dim, the familiar
1/sqrt(dim) embedding scale). Keras instead treats the (input_dim, output_dim) table as a
dense matrix (fan_in = num_embeddings), which makes the scale shrink with the vocabulary.
Fused weights (LSTM gates, attention in_proj) are split into chunks by the policy layer,
which calls ``fans`` on each chunk's shape.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch

from initlab.errors import ConfigError

__all__ = ["fans", "axis_fans", "normalize_axes", "LAYOUTS", "fan_for_mode", "MODES"]

MODES = ("fan_in", "fan_out", "fan_avg", "fan_geo_avg")


def _shape_of(weight_or_shape: object) -> tuple[int, ...]:
    if isinstance(weight_or_shape, torch.Tensor):
        return tuple(weight_or_shape.shape)
    if isinstance(weight_or_shape, torch.Size | tuple | list) and all(
        isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in weight_or_shape
    ):
        return tuple(weight_or_shape)
    raise ConfigError(
        f"fans() needs a tensor or a shape (tuple of non-negative ints); got {weight_or_shape!r}."
    )


def _rf(shape: Sequence[int]) -> int:
    return math.prod(shape[2:])


def _need(shape: Sequence[int], layout: str | None, low: int, high: int | None = None,
          what: str = "") -> None:
    n = len(shape)
    if n < low or (high is not None and n > high):
        want = f"{low}" if high == low else f"at least {low}" if high is None else f"{low}..{high}"
        raise ConfigError(
            f"Cannot compute fans of a tensor with {n} dimension(s) (shape {shape}) for layout "
            f"{layout!r}; expected {want} dimensions{what}. Hint: fan-based inits are for "
            "weights; initialize biases and norm parameters with zeros/ones/constant."
        )


def _split(size: int, groups: int, shape: Sequence[int], layout: str) -> int:
    if size % groups:
        raise ConfigError(
            f"Layout {layout!r} with groups={groups}: dim 0 of shape {shape} ({size}) is not "
            "divisible by groups. Hint: pass the layer's own groups."
        )
    return size // groups


def _torch(shape: tuple[int, ...], groups: int) -> tuple[int, int]:
    _need(shape, None, 2)
    return shape[1] * _rf(shape), shape[0] * _rf(shape)


def _linear(shape: tuple[int, ...], groups: int) -> tuple[int, int]:
    _need(shape, "linear", 2, 2, " (out_features, in_features)")
    return shape[1], shape[0]


def _conv(shape: tuple[int, ...], groups: int) -> tuple[int, int]:
    _need(shape, "conv", 3, None, " (out, in/groups, *kernel)")
    return shape[1] * _rf(shape), _split(shape[0], groups, shape, "conv") * _rf(shape)


def _conv_transpose(shape: tuple[int, ...], groups: int) -> tuple[int, int]:
    _need(shape, "conv_transpose", 3, None, " (in, out/groups, *kernel)")
    return _split(shape[0], groups, shape, "conv_transpose") * _rf(shape), shape[1] * _rf(shape)


def _embedding(shape: tuple[int, ...], groups: int) -> tuple[int, int]:
    _need(shape, "embedding", 2, 2, " (num_embeddings, embedding_dim)")
    return 1, shape[1]


LAYOUTS: dict[str | None, Callable[[tuple[int, ...], int], tuple[int, int]]] = {
    None: _torch,
    "linear": _linear,
    "conv": _conv,
    "conv_transpose": _conv_transpose,
    "embedding": _embedding,
}
"""Layout name -> its fan rule (``None``: torch's convention, (out, in, *kernel)).

Examples:
    >>> sorted(k for k in LAYOUTS if k)
    ['conv', 'conv_transpose', 'embedding', 'linear']
"""


def fans(weight_or_shape: torch.Tensor | Sequence[int], layout: str | None = None,
         groups: int = 1) -> tuple[int, int]:
    """(fan_in, fan_out) of a weight (tensor or shape) stored with ``layout``.

    Args:
        weight_or_shape: a tensor or its shape.
        layout: how the weight is stored (a key of :data:`LAYOUTS`); None: torch's
            convention, (size(1)·rf, size(0)·rf), as ``torch.nn.init`` computes it.
        groups: the module's groups (grouped / transposed convolutions).

    Returns:
        (fan_in, fan_out).

    Raises:
        ConfigError: an unknown layout, too few dimensions, or groups that do not divide.

    Examples:
        >>> fans((8, 4, 3, 3)), fans((4, 8, 3, 3), layout="conv_transpose")
        ((36, 72), (36, 72))
        >>> fans((8, 2, 3), layout="conv", groups=2), fans((10, 4), layout="embedding")
        ((6, 12), (1, 4))
    """
    shape = _shape_of(weight_or_shape)
    if layout not in LAYOUTS:
        from initlab.errors import did_you_mean

        names = [k for k in LAYOUTS if k is not None]
        raise ConfigError(
            f"Unknown layout {layout!r}.{did_you_mean(layout, names)} Expected None (torch's "
            f"convention) or one of {names}."
        )
    if isinstance(groups, bool) or not isinstance(groups, int) or groups < 1:
        raise ConfigError(f"groups must be a positive int; got {groups!r}.")
    return LAYOUTS[layout](shape, groups)


def select_fan(fan_in: float, fan_out: float, mode: str) -> float:
    """The fan a mode selects: fan_in, fan_out, their mean (fan_avg) or geometric mean.

    Args:
        fan_in: the fan-in.
        fan_out: the fan-out.
        mode: one of MODES.

    Returns:
        The fan.
    """
    return {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2.0,
            "fan_geo_avg": math.sqrt(fan_in * fan_out)}[mode]


def fan_for_mode(shape: torch.Tensor | Sequence[int], mode: str, layout: str | None = None,
                 groups: int = 1) -> float:
    """The fan a mode selects (see :func:`select_fan`) for a weight stored with ``layout``."""
    fan_in, fan_out = fans(shape, layout=layout, groups=groups)
    return select_fan(fan_in, fan_out, mode)


def normalize_axes(axes: object, what: str = "axis") -> int | tuple[int, ...] | None:
    """An axis spec as JAX takes it: None, an int, or a tuple of ints (a list becomes a tuple).

    Args:
        axes: None, an int, or a sequence of ints.
        what: the argument's name, for the error message.

    Returns:
        None, the int, or a tuple of ints.
    """
    if axes is None or (isinstance(axes, int) and not isinstance(axes, bool)):
        return axes
    if isinstance(axes, list | tuple) and all(
            isinstance(a, int) and not isinstance(a, bool) for a in axes):
        return tuple(axes)
    raise ConfigError(
        f"Invalid {what}={axes!r}; expected an int or a tuple of ints (JAX's convention, e.g. "
        "in_axis=-2, out_axis=-1, batch_axis=()).")


def _positions(shape: Sequence[int], axes: int | Sequence[int], what: str) -> tuple[int, ...]:
    n = len(shape)
    out = []
    for a in (axes,) if isinstance(axes, int) else axes:
        if not -n <= a < n:
            raise ConfigError(
                f"{what}={axes!r} is out of range for a tensor of shape {tuple(shape)} ({n} dims); "
                f"expected axes in [-{n}, {n - 1}].")
        out.append(a % n)
    return tuple(out)


def axis_fans(weight_or_shape: torch.Tensor | Sequence[int], in_axis: int | Sequence[int],
              out_axis: int | Sequence[int],
              batch_axis: int | Sequence[int] = ()) -> tuple[int, int]:
    """(fan_in, fan_out) by JAX's per-axis rule: the named axes times the receptive field.

    The receptive field is the product of the axes that are neither input, output nor batch
    axes; e.g. a (3, 3, in, out) Flax kernel with in_axis=-2, out_axis=-1 has fan_in = 9·in.

    Args:
        weight_or_shape: a tensor or a shape.
        in_axis: the input axis or axes.
        out_axis: the output axis or axes.
        batch_axis: axes of independent matrices (counted in neither fan).

    Returns:
        (fan_in, fan_out).

    Examples:
        >>> axis_fans((3, 3, 4, 8), in_axis=-2, out_axis=-1)  # a Flax conv kernel
        (36, 72)
    """
    shape = _shape_of(weight_or_shape)
    ins = _positions(shape, in_axis, "in_axis")
    outs = _positions(shape, out_axis, "out_axis")
    batch = _positions(shape, batch_axis, "batch_axis")
    named = [*ins, *outs, *batch]
    if len(set(named)) != len(named):
        raise ConfigError(
            f"in_axis={in_axis!r}, out_axis={out_axis!r}, batch_axis={batch_axis!r} overlap for "
            f"shape {tuple(shape)}; expected distinct axes.")
    rf = math.prod(s for i, s in enumerate(shape) if i not in named)
    return math.prod(shape[i] for i in ins) * rf, math.prod(shape[i] for i in outs) * rf
