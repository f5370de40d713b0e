"""Choosers for what real models hold beyond Linear/Conv weights: custom norms, tied
embeddings, MoE experts, and every tensor initlab has no principled rule for.

``@norm_scale``: a norm's scale at the value that makes it identity-scale (1 for ``x * w``,
0 for Gemma's ``x * (1 + w)``; :func:`initlab.policy.structure.norm_identity`).
``@tied_embedding``: a tensor that is both the input embedding and the output layer gets
N(0, 1/d): the logits ``h @ W.T`` of a unit-RMS ``h`` then have std 1 (N(0, 1), torch's
embedding default, gives std sqrt(d): LM loss far above ln V at init).
``@expert``: one expert of a 3-D MoE tensor, as the Linear it is (gate rows get the expert
activation's scheme, up/down rows the linear one).
``@native_or_keep``: the model's own init (``initlab.policy.native``) when it can be
expressed as a spec, else the model's own values (a plan row with init ``keep``); on the
meta device, where there are no values, it passes to the role defaults that follow.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from initlab.init import get
from initlab.policy.act_table import NONE, ActivationInfo, activation_of_module
from initlab.policy.choosers import AUTO_SCHEMES, describe, spec
from initlab.policy.native import native_init_fn, native_specs
from initlab.policy.roles import Target
from initlab.policy.rules import CHOOSERS, Choice, chooser

if TYPE_CHECKING:
    from initlab.policy.plan import PlanContext

__all__ = ["KEEP", "ROLE_DEFAULTS"]

KEEP = "keep"

# role -> (spec, reason) for tensors with no native init on the meta device
ROLE_DEFAULTS: dict[str, tuple[str, str]] = {
    "token": ("trunc_normal(std=0.02)", "token: N(0, 0.02) truncated (the ViT/BERT convention)"),
    "position_embedding": ("trunc_normal(std=0.02)",
                           "position embedding: N(0, 0.02) truncated (ViT/BERT convention)"),
    "relative_position": ("trunc_normal(std=0.02)",
                          "relative-position bias table: N(0, 0.02) truncated (Swin convention)"),
    "ssm": ("ones", "state-space constant: 1 (no model init found; set a rule for A_log/D)"),
    "other": ("normal(std=0.02)", "no principled rule and no model init on meta: N(0, 0.02)"),
}


@chooser("norm_scale")
def _norm_scale(target: Target, ctx: PlanContext) -> Choice:
    value = 1.0 if target.identity is None else float(target.identity)
    how = f" ({target.note})" if target.note else ""
    if value == 1.0:
        return Choice(spec("ones"), f"norm weight 1{how}")
    if value == 0.0:
        return Choice(spec("zeros"), f"norm weight 0: it scales by (1 + w){how}")
    return Choice(spec("constant", val=value), f"norm weight {value:g}{how}")


@chooser("tied_embedding")
def _tied_embedding(target: Target, ctx: PlanContext) -> Choice:
    d = target.shape[-1]
    std = 1.0 / math.sqrt(d)
    return Choice(spec("normal", mean=0.0, std=std),
                  f"tied embedding and output layer ({target.note}): N(0, 1/d), d={d}, so "
                  "logits have std ~1", layout="same")


def _expert_activation(target: Target, ctx: PlanContext) -> ActivationInfo | None:
    module = target.module
    for attr in ("act_fn", "activation_fn", "act", "activation"):
        sub = getattr(module, attr, None)
        if sub is not None and hasattr(sub, "forward"):
            info = activation_of_module(sub)
            if info is not None:
                return info
    return None


@chooser("expert")
def _expert(target: Target, ctx: PlanContext) -> Choice:
    act = None
    if target.gate == "gate" or (target.gate is None and not target.param_name.startswith("down")):
        act = _expert_activation(target, ctx)
    act = act or NONE
    init, g, note = AUTO_SCHEMES[act.name](act, bool(ctx.options.get("exact_gain", False)))
    where = "gate rows" if target.gate == "gate" else "up rows" if target.gate == "up" else "weight"
    return Choice(init, f"{target.note}, {where}: {describe(act)}{note}", g)


@chooser("native_or_keep")
def _native_or_keep(target: Target, ctx: PlanContext) -> Choice | None:
    native = CHOOSERS.get("native") if "native" in CHOOSERS else None
    if native is not None:
        choice = native(target, ctx)
        if choice is not None:
            return choice
    if not target.is_meta:
        return Choice(KEEP, "keep: the model's own values (no principled rule; no model init "
                      "expressible as a spec)")
    config = getattr(ctx.model, "config", None)
    for attr in (f"{target.param_name}_init_value", f"{target.param_name}_init"):
        value = getattr(config, attr, None) if config is not None else None
        if isinstance(value, int | float) and not isinstance(value, bool):
            return Choice(spec("constant", val=float(value)), f"the model's value: config.{attr}")
    found = native_init_fn(ctx.model, target.module_name)
    if found is not None:
        return Choice(KEEP, f"keep: the model's own init ({found[1]}) runs for this module on "
                      "materialize (not expressible as a spec)")
    return None


@chooser("role_default")
def _role_default(target: Target, ctx: PlanContext) -> Choice | None:
    entry = ROLE_DEFAULTS.get(target.role)
    if target.role == "layer_scale":
        value = _layer_scale_value(target, ctx)
        return Choice(spec("constant", val=value[0]), f"layer scale {value[0]:g} ({value[1]})")
    if entry is None:
        return None
    return Choice(get(entry[0]), entry[1])


def _layer_scale_value(target: Target, ctx: PlanContext) -> tuple[float, str]:
    for obj, where in ((target.module, "module"), (getattr(ctx.model, "config", None), "config")):
        for attr in ("init_values", "init_value", "layer_scale_init_value", "layerscale_value",
                     "layer_scale_init_values"):
            v = getattr(obj, attr, None) if obj is not None else None
            if isinstance(v, int | float) and not isinstance(v, bool):
                return float(v), f"{where}.{attr}"
    return 1.0, "no init value found: 1 (plain residual)"


def _model_level(source: str) -> bool:
    """A model's own init function (HF ``_init_weights``, timm ``init_weights``), not a torch
    layer's ``reset_parameters``."""
    return source.endswith("init_weights") or source == "constructor"


@chooser("bias")
def _bias(target: Target, ctx: PlanContext) -> Choice:
    """Biases 0, unless the model's own init sets this one to something else (Mamba's
    ``dt_proj.bias``, an inverse-softplus of sampled time steps): then the model's init."""
    own = native_init_fn(ctx.model, target.module_name)
    if own is None or not _model_level(own[1]):
        return Choice(spec("zeros"), "biases 0")
    specs = ctx.cached("native_specs", lambda: native_specs(ctx.model))
    found = specs.get(target.name)
    if found is not None and _model_level(found.source):
        if found.spec is None:
            return Choice(KEEP, f"keep: the model's own init ({found.source}) sets this bias "
                          "to computed values" + (" (it runs on materialize)" if target.is_meta
                                                 else ""))
        if not found.spec.startswith(("zeros", "constant(val=0.0)")):
            native = CHOOSERS.get("native")(target, ctx)
            if native is not None:
                return native
    return Choice(spec("zeros"), "biases 0")
