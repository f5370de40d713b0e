"""The μP plan: init per row plus the parametrization in ``plan.meta["mup"]`` (classes,
multipliers, readout multipliers, attention scales); part of :mod:`initlab.scaling.mup`."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from torch import nn

from initlab.errors import ConfigError
from initlab.policy.rules import Rule
from initlab.scaling.mup_base import Base, _attention_modules, _unsettable_attention
from initlab.scaling.mup_rules import LR_RULES, MuP, policy
from initlab.scaling.shapes import classify, lookup

if TYPE_CHECKING:
    from initlab.policy.plan import Plan


def widths(model: nn.Module, p: Plan) -> dict[str, dict]:
    """Per parameter name: class, multipliers and the lr multiplier per optimizer family.

    Args:
        model: the model the plan was made for.
        p: its plan; the base shapes are read from ``p.meta["mup"]["base"]`` (none: every
            multiplier 1).

    Returns:
        ``{parameter name: {"class", "m_in", "m_out", "m", "lr": {family: multiplier}}}``.

    Raises:
        ConfigError: a fused tensor whose blocks have different μP classes.

    Examples:
        >>> from torch import nn
        >>> make = lambda w: nn.Sequential(nn.Linear(8, w), nn.ReLU(), nn.Linear(w, w), nn.ReLU(),
        ...                                nn.Linear(w, 2))
        >>> model = make(64)
        >>> widths(model, plan(model, make, base_width=16))["2.weight"]["lr"]
        {'adam': 0.25, 'sgd': 1.0}
    """
    out: dict[str, dict] = {}
    base = p.meta.get("mup", {}).get("base") if isinstance(p.meta.get("mup"), dict) else None
    for row in p.rows:
        w = classify(row.key, row.shape, row.fan_in, row.fan_out, lookup(base, row.key),
                     row.role)
        cls = w.cls
        entry = {**w.to_dict(),
                 "lr": {fam: LR_RULES[fam][cls](w) for fam in LR_RULES}}
        prev = out.get(row.name)
        if prev is not None and prev["lr"] != entry["lr"]:
            raise ConfigError(
                f"Parameter '{row.name}' has blocks of different μP classes ({prev['class']}, "
                f"{cls}); expected one learning rate per tensor. Hint: split the fused tensor."
            )
        out[row.name] = entry
    return out


def _readout_of(model: nn.Module, param_name: str) -> str | None:
    params = dict(model.named_parameters(remove_duplicate=False))
    tensor = params.get(param_name)
    for name, m in model.named_modules():
        if isinstance(m, nn.Linear) and m.weight is tensor and name + ".weight" != param_name:
            return name
    return None


def plan(model: nn.Module, base: Base | None = None, *, base_width: int | None = None,
         config: MuP | None = None, rules: tuple[Rule, ...] = (), example_input: Any = None,
         attention_base: dict[str, int] | None = None, **options: Any) -> Plan:
    """The μP Plan of ``model``: init per row, plus the parametrization in ``plan.meta["mup"]``.

    Args:
        model: the target model.
        base: the base model, ``make_model`` (with ``base_width``) or base shapes.
        base_width: the base width when ``base`` is a function.
        config: a :class:`MuP`.
        rules: rules that take precedence over the μP ones.
        example_input: passed to ``initlab.plan``.
        attention_base: ``{attention module: base head_dim}`` when ``base`` is a shapes dict.
        **options: more policy options.

    Returns:
        A Plan whose ``meta["mup"]`` holds the base shapes, per-parameter classes and
        multipliers, readout multipliers and attention scales (all JSON-safe).

    Examples:
        >>> from torch import nn
        >>> make = lambda w: nn.Sequential(nn.Linear(8, w), nn.ReLU(), nn.Linear(w, w), nn.ReLU(),
        ...                                nn.Linear(w, 2))
        >>> p = plan(make(64), make, base_width=16)
        >>> [(r.name, round(r.std, 4)) for r in p.rows if r.name.endswith("weight")]
        [('0.weight', 0.5), ('2.weight', 0.1768), ('4.weight', 0.0625)]
        >>> p.meta["mup"]["params"]["4.weight"]["class"]
        'output'
    """
    from initlab.policy import plan as make_plan

    pol = policy(base, base_width=base_width, config=config, rules=rules,
                 attention_base=attention_base, **options)
    p = make_plan(model, pol, example_input=example_input)
    cfg = MuP(**pol.options["mup"])
    info: dict[str, Any] = {"config": cfg.to_dict(), "base": pol.options.get("base")}
    p.meta["mup"] = info
    info["params"] = widths(model, p)
    info["readout_multipliers"] = {}
    for row in p.rows:
        if row.role == "tied_embedding":
            readout = _readout_of(model, row.name)
            m = info["params"][row.name]["m"]
            if readout is not None and m != 1.0:
                info["readout_multipliers"][readout] = 1.0 / m
    heads = list(_attention_modules(model))
    info["attention"] = {}
    if cfg.attention == "1/d":
        base_d = pol.options.get("attention_base", {})
        for name, _, d in heads:
            d0 = base_d.get(name, d)
            info["attention"][name] = math.sqrt(d0) / d
    info["attention_unset"] = ([] if cfg.attention != "1/d" else
                               _unsettable_attention(model, {n for n, _, _ in heads}))
    p.meta["parametrization"] = "mup"
    return p
