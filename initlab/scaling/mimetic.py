"""Mimetic attention init (Trockman & Kolter 2023, arXiv 2305.09828): W_q^T W_k ~ I and
W_o W_v ~ -I, the structure trained attention layers show.

A joint init of two tensors cannot be a per-tensor spec (each tensor has its own random
stream), so this is a function applied after a policy, like ``lsuv_``: per head,
M = alpha Z + beta I (Z Gaussian with variance 1/d) is split by its SVD into the two factors
(``W_q,h = S^1/2 U^T``, ``W_k,h = S^1/2 V^T``, rank head_dim), and W_o W_v = alpha2 Z2 - beta2 I
likewise (full rank). Attention branches are found by shape (:mod:`initlab.scaling.blocks`):
the first three input projections of a branch are q, k, v and its residual output is o.
Branches whose q and k (or v and o) shapes do not pair (grouped-query attention) are skipped
and reported.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from torch import nn

from initlab.errors import ConfigError
from initlab.scaling.blocks import read_structure

__all__ = ["mimetic_", "MimeticReport"]


@dataclass
class MimeticReport:
    """The attention branches set, and those skipped with why.

    Attributes:
        set: the attention branches whose q/k/v/o weights were set.
        skipped: ``{branch: why}`` for the branches left as they were.

    Examples:
        >>> MimeticReport(["blocks.0.attn"], {}).set
        ['blocks.0.attn']
    """

    set: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)


def _factors(m: torch.Tensor, rank: int) -> tuple[torch.Tensor, torch.Tensor]:
    u, s, vh = torch.linalg.svd(m)
    r = s[:rank].sqrt()
    return u[:, :rank] * r, (vh[:rank].T * r)


def _heads(module: nn.Module | None, rows: int) -> int:
    d = getattr(module, "head_dim", None)
    return rows // d if isinstance(d, int) and d > 0 and rows % d == 0 else 1


@torch.no_grad()
def mimetic_(model: nn.Module, *, seed: int = 0, alpha: float = 0.7, beta: float = 0.7,
             alpha2: float = 0.4, beta2: float = 0.4) -> MimeticReport:
    """Set every attention branch's q/k and v/o weights to the mimetic structure, in place.

    Args:
        model: a transformer (an ``nn.ModuleList`` of identical blocks).
        seed: the seed of the Z matrices (one generator per branch, keyed by its name).
        alpha: weight of the noise in W_q^T W_k.
        beta: weight of the identity in W_q^T W_k.
        alpha2: weight of the noise in W_o W_v.
        beta2: weight of the (negative) identity in W_o W_v.

    Returns:
        A :class:`MimeticReport`.

    Raises:
        ConfigError: no transformer blocks in ``model``.

    Examples:
        >>> from initlab.scaling.models import Transformer
        >>> model = Transformer(32, depth=2, heads=1)
        >>> mimetic_(model, seed=0).set
        ['blocks.0.attn', 'blocks.1.attn']
        >>> a = model.blocks[0].attn
        >>> float(torch.diagonal(a.o_proj.weight @ a.v_proj.weight).mean()) < 0   # ~ -beta2
        True
    """
    from initlab.policy import Policy, Rule, plan
    from initlab.rng import derive

    rows = plan(model, Policy((Rule("zeros"),), "keep", "shapes")).rows
    st = read_structure(model, rows)
    if not st.n_layers:
        raise ConfigError(f"mimetic_ found no transformer blocks in {type(model).__name__}; "
                          "expected an nn.ModuleList of identical blocks.")
    params = dict(model.named_parameters())
    modules = dict(model.named_modules())
    report = MimeticReport()
    for branch in sorted(set(st.branch.values())):
        keys = sorted((k for k, b in st.branch.items() if b == branch and k in st.inputs),
                      key=lambda k: st.inputs[k])
        outs = [k for k, b in st.branch.items() if b == branch and k in st.out_proj]
        if len(keys) < 3:
            continue
        q, k, v = (params.get(key) for key in keys[:3])
        o = params.get(outs[0]) if outs else None
        if (q is None or k is None or v is None or o is None or q.shape != k.shape
                or o.shape[1] != v.shape[0]):
            report.skipped[branch] = "q/k/v/o are fused or do not pair (grouped-query attention?)"
            continue
        g = torch.Generator().manual_seed(derive("mimetic", seed, branch) % (2 ** 63))
        d = q.shape[1]
        heads = _heads(modules.get(branch), q.shape[0])
        dh = q.shape[0] // heads
        for h in range(heads):
            z = torch.randn(d, d, generator=g, dtype=torch.float64) / math.sqrt(d)
            a, b = _factors(alpha * z + beta * torch.eye(d, dtype=torch.float64), dh)
            q[h * dh:(h + 1) * dh] = a.T.to(q.dtype)
            k[h * dh:(h + 1) * dh] = b.T.to(k.dtype)
        dv = v.shape[0]
        z2 = torch.randn(o.shape[0], dv, generator=g, dtype=torch.float64) / math.sqrt(dv)
        eye = torch.eye(o.shape[0], dv, dtype=torch.float64)
        a2, b2 = _factors(alpha2 * z2 - beta2 * eye, min(o.shape[0], dv))
        o.copy_(a2.to(o.dtype))
        v.copy_(b2.T.to(v.dtype))
        report.set.append(branch)
    return report
