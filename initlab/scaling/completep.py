"""Depth: residual branches scaled by (L / L0)^-alpha (CompleteP alpha = 1, depth-μP alpha = 1/2).

Dey et al. 2025 (arXiv 2505.01618; EleutherAI nanoGPT-mup ``completep``): on top of μP, each
residual branch's output is multiplied by (L / L0)^-alpha, L the number of blocks and L0 the
base depth, and the Adam learning rate of the hidden (matrix-like) weights inside the blocks
by (L / L0)^(alpha - 1) (1 for CompleteP). The branch multiplier is a forward hook on the
residual output projections (found by shape, :mod:`initlab.scaling.blocks`), installed by
``initlab.mup.attach`` from ``plan.meta["mup"]["branch_multipliers"]``; nothing is stored on
tensors.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from torch import nn

import initlab.scaling.mup as mup
from initlab.errors import ConfigError
from initlab.scaling.blocks import read_structure

if TYPE_CHECKING:
    from initlab.policy.plan import Plan

__all__ = ["plan", "ALPHAS"]

ALPHAS = {"completep": 1.0, "depth_mup": 0.5}


def plan(model: nn.Module, base: mup.Base | None = None, *, base_width: int | None = None, base_depth: int = 2,
         alpha: float | str = "completep", config: mup.MuP | None = None, **options: Any) -> Plan:
    """The μP plan of ``model`` plus the depth multipliers.

    Args:
        model: the target model (a stack of identical residual blocks).
        base: the μP width base (see :func:`initlab.mup.plan`); None for width multiplier 1.
        base_width: the base width when ``base`` is a function.
        base_depth: L0, the depth the hyperparameters were tuned at.
        alpha: the depth exponent, or ``"completep"`` (1) / ``"depth_mup"`` (1/2).
        config: a :class:`initlab.mup.MuP`.
        **options: more policy options.

    Returns:
        A Plan; ``meta["mup"]`` gains ``depth`` and ``branch_multipliers``, and the Adam lr
        multipliers of the blocks' hidden weights are scaled by (L / L0)^(alpha - 1).

    Raises:
        ConfigError: ``alpha`` outside [0, 1] (or an unknown name), ``base_depth`` not a
            positive integer, or no residual blocks in ``model``.

    Examples:
        >>> from initlab.scaling.models import Transformer
        >>> p = plan(Transformer(32, depth=8), base_depth=2, alpha="completep")
        >>> p.meta["mup"]["depth"], p.meta["mup"]["branch_multipliers"]["blocks.0.mlp.2"]
        ({'alpha': 1.0, 'L': 8, 'L0': 2}, 0.25)
    """
    a = ALPHAS.get(alpha, alpha) if isinstance(alpha, str) else alpha
    if not isinstance(a, int | float) or isinstance(a, bool) or not 0 <= a <= 1:
        raise ConfigError(f"alpha must be a number in [0, 1] or one of {sorted(ALPHAS)}; got "
                          f"{alpha!r}. Hint: CompleteP is alpha=1, depth-μP alpha=0.5.")
    if not isinstance(base_depth, int) or base_depth < 1:
        raise ConfigError(f"base_depth must be a positive integer; got {base_depth!r}.")
    p = mup.plan(model, base, base_width=base_width, config=config, **options)
    st = read_structure(model, p.rows)
    if not st.out_proj:
        raise ConfigError(
            f"No residual blocks found in {type(model).__name__}; expected an nn.ModuleList of "
            "identical blocks whose branches end in a Linear back to the residual width. "
            "Hint: build the blocks as an nn.ModuleList."
        )
    ratio = st.n_layers / base_depth
    branch = ratio ** -a
    info = p.meta["mup"]
    info["depth"] = {"alpha": float(a), "L": st.n_layers, "L0": base_depth}
    names = {p[key].name for key in st.out_proj}
    info["branch_multipliers"] = {n.rsplit(".", 1)[0]: branch for n in sorted(names)}
    lr_depth = ratio ** (a - 1)
    in_blocks = {p[key].name for key in st.layer}
    for name in in_blocks:
        entry = info["params"][name]
        if entry["class"] in ("hidden", "fixed"):
            entry["lr"]["adam"] *= lr_depth
    p.meta["parametrization"] = f"mup+depth(alpha={a:g})"
    return p
