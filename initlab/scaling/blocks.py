"""Transformer structure by shape, not by name: blocks, residual width, and residual output
projections (the Linear whose output is added to the residual stream).

The blocks are the children of the longest ``nn.ModuleList`` whose items share one class.
The residual width d is the length of the norms inside a block (else the fan_in of its first
matrix). In each child branch of a block (attention, MLP, ...), the *last* matrix whose
logical fan_out is d writes into the residual stream: ``o_proj``, ``c_proj``, ``dense``,
``out_proj``, ``down_proj``, ``fc2``, ``dense_4h_to_h``, ``w2`` alike, Conv1D included (the
plan's fans are logical). The other matrices of a branch are its input projections, in
registration order (q, k, v; gate, up).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from torch import nn

__all__ = ["Structure", "read_structure"]

_MATRIX_ROLES = ("weight", "expert_weight")


@dataclass
class Structure:
    """What the recipes need: per row key its block index and kind, the depth and width."""

    n_layers: int = 0
    d: int | None = None
    layer: dict[str, int] = field(default_factory=dict)        # row key -> block index
    out_proj: set[str] = field(default_factory=set)            # residual output projections
    inputs: dict[str, int] = field(default_factory=dict)       # row key -> order in its branch
    branch: dict[str, str] = field(default_factory=dict)       # row key -> branch module name
    ff_in: dict[str, int] = field(default_factory=dict)        # out-proj key -> its fan_in
    head: str | None = None                                    # the output layer (LM head)


def _blocks(model: nn.Module) -> tuple[str, list[nn.Module]]:
    best: tuple[str, list[nn.Module]] = ("", [])
    for name, m in model.named_modules():
        if isinstance(m, nn.ModuleList) and len(m) > len(best[1]):
            kids = list(m)
            if len({type(k) for k in kids}) == 1 and not isinstance(kids[0], nn.Linear):
                best = (name, kids)
    return best


def read_structure(model: nn.Module, rows: Sequence[Any]) -> Structure:
    """The structure of ``model`` from its plan rows (any plan of it).

    Args:
        model: the model.
        rows: its plan rows (``plan.rows``), for logical fans and roles.

    Returns:
        A :class:`Structure` (empty when no repeated blocks are found).
    """
    prefix, blocks = _blocks(model)
    st = Structure(n_layers=len(blocks))
    if not blocks:
        return st
    for i in range(len(blocks)):
        base = f"{prefix}.{i}." if prefix else f"{i}."
        mine = [r for r in rows if r.name.startswith(base)]
        norms = [r.shape[0] for r in mine if r.role == "norm_weight" and r.shape]
        mats = [r for r in mine if r.role in _MATRIX_ROLES and r.fan_in]
        if not mats:
            continue
        d = max(set(norms), key=norms.count) if norms else mats[0].fan_in
        st.d = st.d or d
        by_branch: dict[str, list] = {}
        for r in mats:
            st.layer[r.key] = i
            child = r.name[len(base):].split(".")[0]
            by_branch.setdefault(child, []).append(r)
        for child, rs in by_branch.items():
            outs = [r for r in rs if r.fan_out == d]
            last = outs[-1] if outs else None
            if last is not None and len(rs) > 1:
                same = [r for r in rs if r.name == last.name]   # a fused tensor's blocks
                for r in same:
                    st.out_proj.add(r.key)
                    st.ff_in[r.key] = r.fan_in
            order = 0
            for r in rs:
                st.branch[r.key] = base + child
                if r.key not in st.out_proj:
                    st.inputs[r.key] = order
                    order += 1
    return st
