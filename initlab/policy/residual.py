"""Residual-aware choosers: Fixup, zero_residual, SkipInit/ReZero gates, GPT-2, ZerO, delta-orthogonal.

Residual branches are found, in this order, as

1. modules with an attribute ``residual_branch = True`` (the module is the branch);
2. torchvision-style blocks: class name ``BasicBlock`` (conv1, conv2) or ``Bottleneck``
   (conv1, conv2, conv3); the shortcut (``downsample``/``shortcut``) is not in the branch.

A branch's layers are its Linear/Conv modules in registration order (the shortcut
excluded); its norms likewise. The classifier is the last Linear outside every branch.
"""

from __future__ import annotations

import fnmatch
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from torch import nn

from initlab._core.torch_types import NORM_TYPES
from initlab.errors import ConfigError
from initlab.policy.choosers import AUTO_SCHEMES, describe, spec
from initlab.policy.roles import Target, module_layout
from initlab.policy.rules import Choice, chooser

if TYPE_CHECKING:
    from initlab.policy.plan import PlanContext

__all__ = ["Branch", "find_branches", "GPT2_RESIDUAL"]

_BLOCK_NAMES = {"BasicBlock": ("conv1", "conv2"), "Bottleneck": ("conv1", "conv2", "conv3")}
_SHORTCUTS = ("downsample", "shortcut", "skip", "proj_shortcut")
_WEIGHTED = ("linear", "conv", "conv_transpose")
GPT2_RESIDUAL = ("*c_proj.weight", "*out_proj.weight", "*fc2.weight", "*.proj.weight",
                 "*o_proj.weight", "*down_proj.weight", "*dense_4h_to_h.weight",
                 "*attention.dense.weight", "*self_attention.dense.weight", "*.wo.weight",
                 "*output.dense.weight", "*attn.out_proj.weight", "*mlp.fc_out.weight",
                 "*w2.weight", "*experts.down_proj")
_NORMS = NORM_TYPES  # (LocalResponseNorm has no weight: never a branch norm)


@dataclass
class Branch:
    """One residual branch: its module name, weighted layers and norms (in order)."""

    name: str
    layers: list[str] = field(default_factory=list)   # module names, in order
    norms: list[str] = field(default_factory=list)


def _is_branch(module: nn.Module) -> bool:
    if getattr(module, "residual_branch", False) is True:
        return True
    attrs = _BLOCK_NAMES.get(type(module).__name__)
    return attrs is not None and all(hasattr(module, a) for a in attrs)


def find_branches(model: nn.Module) -> list[Branch]:
    """The residual branches of ``model`` (outermost marked modules; nested ones are not split)."""
    branches: list[Branch] = []
    for name, module in model.named_modules():
        if any(name.startswith(b.name + ".") for b in branches) or not _is_branch(module):
            continue
        branch = Branch(name)
        for sub, m in module.named_modules():
            if not sub or any(sub == s or sub.startswith(s + ".") for s in _SHORTCUTS):
                continue
            full = f"{name}.{sub}" if name else sub
            if module_layout(m) in _WEIGHTED:
                branch.layers.append(full)
            elif isinstance(m, _NORMS) and getattr(m, "weight", None) is not None:
                branch.norms.append(full)
        branches.append(branch)
    return branches


# (branches, {layer: branch}, {norm: branch}, the classifier's module name or None)
Analysis = tuple[list[Branch], dict[str, Branch], dict[str, Branch], str | None]


def _analysis(ctx: PlanContext) -> Analysis:
    def compute() -> Analysis:
        branches = find_branches(ctx.model)
        owner = {layer: b for b in branches for layer in b.layers}
        norm_owner = {norm: b for b in branches for norm in b.norms}
        classifier: str | None = None
        for name, m in ctx.model.named_modules():
            if isinstance(m, nn.Linear) and not any(name.startswith(b.name + ".") for b in branches):
                classifier = name
        return branches, owner, norm_owner, classifier

    return ctx.cached("residual", compute)


def _require_branches(ctx: PlanContext, preset: str) -> Analysis:
    branches = _analysis(ctx)[0]
    if not branches:
        raise ConfigError(
            f"Policy '{preset}' found no residual branches in {type(ctx.model).__name__}; "
            "expected modules with residual_branch = True or torchvision-style BasicBlock/"
            "Bottleneck. Hint: set `residual_branch = True` on each block's branch module."
        )
    return _analysis(ctx)


def _auto(target: Target, ctx: PlanContext, scale: float = 1.0, note: str = "") -> Choice:
    act = ctx.activation(target)
    init, g, why = AUTO_SCHEMES[act.name](act, bool(ctx.options.get("exact_gain", False)))
    if scale == 1.0:
        return Choice(init, describe(act) + why, g)
    g = g * scale
    return Choice(spec("variance_scaling", scale=g * g, mode="fan_in", distribution="normal"),
                  f"{describe(act)}{why}, {note}", g)


@chooser("fixup_weight")
def _fixup_weight(target: Target, ctx: PlanContext) -> Choice | None:
    branches, owner, _, classifier = _require_branches(ctx, "fixup")
    if target.module_name == classifier:
        return Choice(spec("zeros"), "Fixup: classifier weight 0")
    branch = owner.get(target.module_name)
    if branch is None:
        return None
    m, L = len(branch.layers), len(branches)
    if target.module_name == branch.layers[-1]:
        return Choice(spec("zeros"), f"Fixup: last layer of branch {branch.name} is 0")
    factor = L ** (-1.0 / (2 * m - 2))
    return _auto(target, ctx, factor, f"times L^(-1/(2m-2)) = {L}^(-1/{2 * m - 2}) = {factor:.4g}")


@chooser("fixup_bias")
def _fixup_bias(target: Target, ctx: PlanContext) -> Choice | None:
    _, _, _, classifier = _require_branches(ctx, "fixup")
    if target.module_name == classifier:
        return Choice(spec("zeros"), "Fixup: classifier bias 0")
    return None


@chooser("gate")
def _gate(target: Target, ctx: PlanContext) -> Choice | None:
    """SkipInit/ReZero gates at 0; otherwise the model's own value (later rules), else 1."""
    if ctx.options.get("skipinit", False):
        return Choice(spec("zeros"), "SkipInit/ReZero: residual gate 0 (each block starts as identity)")
    return None


@chooser("zero_residual_norm")
def _zero_residual_norm(target: Target, ctx: PlanContext) -> Choice | None:
    branches, _, norm_owner, _ = _require_branches(ctx, "zero_residual")
    branch = norm_owner.get(target.module_name)
    if branch is not None and target.module_name == branch.norms[-1]:
        return Choice(spec("zeros"), f"zero_residual: last norm of branch {branch.name} weight 0")
    return None


@chooser("zero_residual_weight")
def _zero_residual_weight(target: Target, ctx: PlanContext) -> Choice | None:
    branches, owner, _, _ = _require_branches(ctx, "zero_residual")
    branch = owner.get(target.module_name)
    if branch is not None and not branch.norms and target.module_name == branch.layers[-1]:
        return Choice(spec("zeros"), f"zero_residual: branch {branch.name} has no norm, last layer 0")
    return None


def _n_layer(ctx: PlanContext) -> int:
    if ctx.options.get("n_layer"):
        return int(ctx.options["n_layer"])

    def compute() -> int:
        lists = [len(m) for m in ctx.model.modules() if isinstance(m, nn.ModuleList | nn.Sequential)
                 and len(m) > 0 and len({type(c) for c in m}) == 1 and
                 not isinstance(m[0], nn.Linear | nn.modules.conv._ConvNd)]
        if lists:
            return max(lists)
        return max(1, sum(1 for t in ctx.targets if _is_residual_proj(t, ctx)) // 2)

    return ctx.cached("n_layer", compute)


def _is_residual_proj(target: Target, ctx: PlanContext) -> bool:
    globs = ctx.options.get("residual") or GPT2_RESIDUAL
    globs = (globs,) if isinstance(globs, str) else tuple(globs)
    return any(fnmatch.fnmatchcase(target.name, g) for g in globs)


@chooser("gpt2_weight")
def _gpt2_weight(target: Target, ctx: PlanContext) -> Choice:
    std = float(ctx.options.get("std", 0.02))
    if target.role == "weight" and _is_residual_proj(target, ctx):
        n = _n_layer(ctx)
        s = std / math.sqrt(2 * n)
        return Choice(spec("normal", mean=0.0, std=s),
                      f"GPT-2: residual output projection, {std:g}/sqrt(2*n_layer={n})")
    return Choice(spec("normal", mean=0.0, std=std), f"GPT-2: N(0, {std:g})")


@chooser("zero_weight")
def _zero_weight(target: Target, ctx: PlanContext) -> Choice:
    return Choice(spec("zero_hadamard"), "ZerO: deterministic partial identity / Hadamard")


@chooser("delta_orthogonal_weight")
def _delta_orthogonal_weight(target: Target, ctx: PlanContext) -> Choice:
    gain = float(ctx.options.get("gain", 1.0))
    shape = target.shape
    if (target.layout == "conv" and target.groups == 1 and len(shape) >= 3
            and shape[0] >= shape[1]):
        return Choice(spec("delta_orthogonal", gain=gain),
                      f"conv with out {shape[0]} >= in {shape[1]}: delta-orthogonal")
    why = "not a conv" if target.layout != "conv" else "conv with out < in or groups > 1"
    return Choice(spec("orthogonal", gain=gain), f"{why}: orthogonal")
