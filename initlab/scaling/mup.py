"""μP (Yang et al. 2022, arXiv 2203.03466) for any ``nn.Module``, with nothing stored on tensors.

The parametrization is written in its *multiplier-free* form (the abc-symmetry of Tensor
Programs V, Table 3): the readout's 1/m output multiplier is absorbed into its init and
learning rate, so an untied model needs no forward change at all. Per class (see
:mod:`initlab.scaling.shapes`), relative to the base model (m = target / base):

========  =================  ================  ==================
class     init std           Adam(W) lr        SGD lr
========  =================  ================  ==================
hidden    sigma0 m_in^-1/2   1 / m_in          m_out / m_in
input     sigma0             1                 m_out
output    sigma0 / m_in      1 / m_in          1 / m_in
vector    (its rule)         1                 m
fixed     (its rule)         1                 1
========  =================  ================  ==================

sigma0 is the base std: ``std`` when given (e.g. 0.02), else gain / sqrt(base fan_in) with
the gain of the activation that follows (embeddings: ``embedding_std``). Weight decay is
multiplied by 1 / (lr multiplier), so lr x wd (the decay per step) does not change with width.

Two things need the forward pass: a *tied* embedding used as readout keeps its input init and
gets a 1/m multiplier on the readout's output (mup#55), and attention logits use 1/d instead
of 1/sqrt(d) (``scaling = sqrt(d0) / d``, equal to SP at the base). :func:`attach` installs
them from the plan (a forward hook; HF attention modules' ``scaling`` attribute) and reports
the attention modules it could not set.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from torch import nn

from initlab.errors import ConfigError, UnknownNameError, did_you_mean
from initlab.policy.choosers import AUTO_SCHEMES, spec
from initlab.policy.rules import Choice, Policy, Rule, chooser
from initlab.scaling.shapes import Width, base_shapes, classify, lookup

if TYPE_CHECKING:
    from torch.utils.hooks import RemovableHandle

    from initlab.policy.plan import Plan, PlanContext
    from initlab.policy.roles import Target

Base = nn.Module | Callable[[int], nn.Module] | dict[str, dict]

__all__ = ["MuP", "policy", "plan", "param_groups", "attach", "Attached", "widths", "LR_RULES",
           "base_shapes", "head_dims"]

_WEIGHT_ROLES = ("weight", "attention_in_weight", "expert_weight", "embedding",
                 "tied_embedding", "position_embedding")
_EMBEDDING_ROLES = ("embedding", "tied_embedding", "position_embedding")
_DISTRIBUTIONS = ("normal", "truncated_normal")
QUERY_GLOBS = ("*q_proj.weight", "*query.weight", "*.wq.weight", "*q_lin.weight", "*.q.weight")


def _is_query(target: Target) -> bool:
    import fnmatch

    return target.gate == "q" or (target.suffix == "[q]") or any(
        fnmatch.fnmatchcase(target.name, g) for g in QUERY_GLOBS)


@dataclass(frozen=True)
class MuP:
    """The μP settings (all JSON-safe).

    Args:
        std: base std of every weight (GPT-style 0.02); None: gain / sqrt(base fan_in).
        embedding_std: base std of embeddings when ``std`` is None.
        readout_zero: initialize the readout (output class) to zero, as the mup README advises.
        query_zero: initialize attention queries to zero (mup's examples do): logits start at
            0 at every width, so the first updates are not masked by init noise.
        attention: ``"1/d"`` (μP) or ``"1/sqrt(d)"`` (standard) attention logits.
        distribution: ``"normal"`` or ``"truncated_normal"`` (cut at 2 std).

    Raises:
        ConfigError: an unknown ``attention`` or ``distribution``, or a std that is not a
            positive number.

    Examples:
        >>> cfg = MuP(std=0.02)
        >>> cfg.std, cfg.attention, cfg.to_dict()["readout_zero"]
        (0.02, '1/d', False)
    """

    std: float | None = None
    embedding_std: float = 1.0
    readout_zero: bool = False
    query_zero: bool = False
    attention: str = "1/d"
    distribution: str = "normal"

    def __post_init__(self) -> None:
        if self.attention not in ("1/d", "1/sqrt(d)"):
            raise ConfigError(f"MuP attention must be '1/d' or '1/sqrt(d)'; got {self.attention!r}. "
                              "Hint: μP uses '1/d'.")
        if self.distribution not in _DISTRIBUTIONS:
            raise ConfigError(f"MuP distribution must be one of {list(_DISTRIBUTIONS)}; got "
                              f"{self.distribution!r}.")
        for name in ("std", "embedding_std"):
            v = getattr(self, name)
            if v is not None and not (isinstance(v, int | float) and v > 0 and math.isfinite(v)):
                raise ConfigError(f"MuP {name} must be a positive number; got {v!r}.")

    def to_dict(self) -> dict:
        """The settings as a JSON-safe dict (``MuP(**d)`` rebuilds them)."""
        return asdict(self)


# class -> (init std factor, {optimizer family: lr multiplier}) as functions of the Width
_INIT: dict[str, Callable[[Width], float]] = {
    "hidden": lambda w: w.m_in ** -0.5,
    "input": lambda w: 1.0,
    "output": lambda w: 1.0 / w.m_in,
    "vector": lambda w: 1.0,
    "fixed": lambda w: 1.0,
}
LR_RULES: dict[str, dict[str, Callable[[Width], float]]] = {
    "adam": {"hidden": lambda w: 1.0 / w.m_in, "input": lambda w: 1.0,
             "output": lambda w: 1.0 / w.m_in, "vector": lambda w: 1.0, "fixed": lambda w: 1.0},
    "sgd": {"hidden": lambda w: w.m_out / w.m_in, "input": lambda w: w.m_out,
            "output": lambda w: 1.0 / w.m_in, "vector": lambda w: w.m, "fixed": lambda w: 1.0},
}
"""Per optimizer family (``"adam"``, ``"sgd"``), per μP class: the learning-rate multiplier as
a function of the :class:`~initlab.scaling.shapes.Width` (Tensor Programs V, Table 3)."""
OPTIMIZERS = {"adam": "adam", "adamw": "adam", "sgd": "sgd"}


def _config(ctx: PlanContext) -> MuP:
    return MuP(**ctx.options.get("mup", {}))


def _width(target: Target, ctx: PlanContext) -> Width:
    from initlab.init import fans

    fan_in = fan_out = None
    if len(target.shape) >= 2:
        fan_in, fan_out = (int(f) for f in fans(target.shape, layout=target.layout,
                                                groups=target.groups))
    return classify(target.key, target.shape, fan_in, fan_out,
                    lookup(ctx.options.get("base"), target.key), target.role)


def _base_std(target: Target, ctx: PlanContext, cfg: MuP, w: Width) -> tuple[float, str]:
    if cfg.std is not None:
        return float(cfg.std), f"base std {cfg.std:g}"
    if target.role in _EMBEDDING_ROLES:
        return cfg.embedding_std, f"embedding base std {cfg.embedding_std:g}"
    act = ctx.activation(target)
    _, g, _ = AUTO_SCHEMES[act.name](act, bool(ctx.options.get("exact_gain", False)))
    from initlab.init import fans

    base_fan = int(fans(target.shape, layout=target.layout, groups=target.groups)[0]) / w.m_in
    return g / math.sqrt(base_fan), f"gain {g:.4g} ({act.name}) / sqrt(base fan_in {base_fan:g})"


@chooser("mup_weight")
def _mup_weight(target: Target, ctx: PlanContext) -> Choice | None:
    cfg = _config(ctx)
    w = _width(target, ctx)
    cls = w.cls
    if cls in ("vector", "fixed") and len(target.shape) < 2:
        return None
    if cls == "output" and cfg.readout_zero:
        return Choice(spec("zeros"), f"μP readout (fan_in x{w.m_in:g}): zero init")
    if cfg.query_zero and cls == "hidden" and _is_query(target):
        return Choice(spec("zeros"), f"μP hidden (fan_in x{w.m_in:g}): attention query zero init")
    sigma0, why = _base_std(target, ctx, cfg, w)
    factor = _INIT[cls](w)
    std = sigma0 * factor
    init = (spec("normal", mean=0.0, std=std) if cfg.distribution == "normal"
            else spec("trunc_normal_std", std=std, a=-2.0, b=2.0))
    shown = {"hidden": f"x m_in^-1/2 = {factor:.4g}", "output": f"x 1/m_in = {factor:.4g}"}
    tied = " (tied: input init, 1/m on the readout's output)" if target.role == "tied_embedding" else ""
    return Choice(init, f"μP {cls}{tied}: {why} {shown.get(cls, '')}".rstrip())


def policy(base: Base | None = None, *, base_width: int | None = None, config: MuP | None = None,
           rules: tuple[Rule, ...] = (), attention_base: dict[str, int] | None = None,
           **options: Any) -> Policy:
    """The μP policy: rules for every role, base shapes in its options (JSON-safe).

    Args:
        base: the base model, ``make_model`` (with ``base_width``) or base shapes; None means
            the model is its own base (every multiplier 1).
        base_width: the base width when ``base`` is a function.
        config: a :class:`MuP` (defaults when None).
        rules: rules that take precedence (override the init of any role).
        attention_base: ``{attention module: base head_dim}`` when ``base`` is a shapes dict.
        **options: more policy options (e.g. ``exact_gain=True``).

    Returns:
        A :class:`~initlab.Policy` named ``"mup"``.

    Examples:
        >>> from torch import nn
        >>> make = lambda w: nn.Sequential(nn.Linear(8, w), nn.ReLU(), nn.Linear(w, w), nn.ReLU(),
        ...                                nn.Linear(w, 2))
        >>> pol = policy(make, base_width=16)
        >>> pol.name, sorted(pol.options)
        ('mup', ['attention_base', 'base', 'mup'])
    """
    from initlab.policy.presets import _tail

    cfg = config or MuP()
    opts: dict[str, Any] = {"mup": cfg.to_dict(), **options}
    if base is not None:
        opts["base"] = base_shapes(base, base_width)
        opts["attention_base"] = (dict(attention_base) if attention_base is not None
                                  else _head_dims(base, base_width))
    return Policy((*rules, Rule("@mup_weight", role=_WEIGHT_ROLES, label="mup"), *_tail()),
                  "error", "mup", opts)


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


def _info(p: Any) -> dict:
    info = p.meta.get("mup") if hasattr(p, "meta") else None
    if not isinstance(info, dict) or "params" not in info:
        got = p.meta.get("policy") if hasattr(p, "meta") else type(p).__name__
        raise ConfigError(
            f"The plan has no μP parametrization (plan of policy {got!r}); expected a plan from "
            "initlab.mup.plan. Hint: plan = initlab.mup.plan(model, base=make_model, base_width=64)."
        )
    return info


def param_groups(model: nn.Module, plan: Plan, lr: float, *, weight_decay: float = 0.0,
                 optimizer: str = "adam") -> list[dict]:
    """Optimizer parameter groups with the μP learning-rate and weight-decay multipliers.

    Args:
        model: the model the plan was made for.
        plan: a Plan from :func:`plan`.
        lr: the base learning rate (the one tuned at the base width).
        weight_decay: the base weight decay; each group's is multiplied by 1 / (its lr
            multiplier), so lr x weight_decay stays constant across widths.
        optimizer: ``"adam"``, ``"adamw"`` or ``"sgd"`` (the family decides the multipliers).

    Returns:
        A list of ``{"params", "lr", "weight_decay", "names", "mup_class"}`` dicts, ready for
        ``torch.optim.AdamW(groups)`` (torch keeps the extra keys).

    Raises:
        UnknownNameError: an unknown ``optimizer``.
        ConfigError: the plan has no μP parametrization.

    Examples:
        >>> from torch import nn
        >>> make = lambda w: nn.Sequential(nn.Linear(8, w), nn.ReLU(), nn.Linear(w, w), nn.ReLU(),
        ...                                nn.Linear(w, 2))
        >>> model = make(64)
        >>> p = plan(model, make, base_width=16)
        >>> groups = param_groups(model, p, 1e-2, weight_decay=0.1, optimizer="adamw")
        >>> [(g["names"], g["lr"], g["weight_decay"]) for g in groups][2]
        (['2.weight'], 0.0025, 0.4)
    """
    if optimizer not in OPTIMIZERS:
        hint = did_you_mean(str(optimizer), OPTIMIZERS)
        raise UnknownNameError(f"Unknown optimizer {optimizer!r} for μP.{hint} Expected one of "
                               f"{sorted(OPTIMIZERS)}.")
    info, family = _info(plan), OPTIMIZERS[optimizer]
    groups: dict[tuple, dict] = {}
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        name = _unwrapped(name)
        if name not in info["params"] and name.startswith("module."):   # DDP
            name = name[len("module."):]
        entry = info["params"].get(name, {"class": "fixed", "lr": {family: 1.0}})
        mult = float(entry["lr"][family])
        key = (mult, entry["class"])
        g = groups.setdefault(key, {"params": [], "names": [], "lr": lr * mult,
                                    "weight_decay": weight_decay / mult,
                                    "mup_class": entry["class"]})
        g["params"].append(param)
        g["names"].append(name)
    return list(groups.values())


_WRAPPERS = ("_orig_mod.", "_fsdp_wrapped_module.", "_checkpoint_wrapped_module.")


def _unwrapped(name: str) -> str:
    """A parameter name without torch.compile / FSDP1 / checkpoint wrapper segments."""
    name = "." + name
    for w in _WRAPPERS:
        name = name.replace("." + w, ".")
    return name[1:]


@dataclass
class Attached:
    """What :func:`attach` changed in the forward pass, and what it could not.

    Attributes:
        readout_multipliers: ``{module: factor}`` output multipliers installed (tied readouts,
            and CompleteP's residual branches).
        attention: ``{attention module: scaling}`` set.
        attention_unset: attention modules whose logit scale could not be set.
        handles: the forward hooks (:meth:`remove` takes them out).

    Examples:
        >>> a = Attached({"head": 0.5}, {}, [], [])
        >>> print(a)
        output x0.5: head
    """

    readout_multipliers: dict[str, float]   # readouts and residual branches (depth)
    attention: dict[str, float]
    attention_unset: list[str]
    handles: list[RemovableHandle] = field(default_factory=list)

    def remove(self) -> None:
        """Remove the readout hooks (attention ``scaling`` values stay as set)."""
        for h in self.handles or ():
            h.remove()
        self.handles = []

    def __str__(self) -> str:
        lines = [f"output x{v:.4g}: {k}" for k, v in self.readout_multipliers.items()]
        lines += [f"attention scaling {v:.4g}: {k}" for k, v in self.attention.items()]
        lines += [f"attention NOT set (no `scaling` attribute; μP needs 1/d logits): {k}"
                  for k in self.attention_unset]
        return "\n".join(lines) or "nothing to attach (untied readout, no attention)"


def _multiply(factor: float) -> Callable[[nn.Module, Any, Any], Any]:
    def hook(module: nn.Module, args: Any, output: Any) -> Any:
        return output * factor

    return hook


def attach(model: nn.Module, plan: Plan) -> Attached:
    """Install the forward-pass parts of μP from the plan (call again after loading a model).

    Args:
        model: the model (on any device, compiled or sharded after this call).
        plan: a Plan from :func:`plan` (its ``meta["mup"]``).

    Returns:
        An :class:`Attached` report; ``.attention_unset`` lists attention modules whose
        logit scale cannot be set (a custom module calling SDPA without ``scale``).

    Raises:
        ConfigError: the plan has no μP parametrization, or names a module the model lacks.

    Examples:
        >>> from initlab.scaling.models import Transformer
        >>> make = lambda w: Transformer(w, depth=1, heads=2)
        >>> model = make(64)
        >>> report = attach(model, plan(model, make, base_width=32))
        >>> round(model.blocks[0].attn.scaling, 4)  # sqrt(d0) / d: 1/d logits, SP at the base
        0.125
        >>> report.remove()
    """
    info = _info(plan)
    modules = dict(model.named_modules())
    handles = []
    multipliers = {**info.get("readout_multipliers", {}), **info.get("branch_multipliers", {})}
    for name, factor in multipliers.items():
        if name not in modules:
            raise ConfigError(f"Readout module '{name}' of the plan is not in "
                              f"{type(model).__name__}; expected the model the plan was made for.")
        handles.append(modules[name].register_forward_hook(_multiply(float(factor))))
    for name, scale in info.get("attention", {}).items():
        if name in modules:
            modules[name].scaling = float(scale)
    return Attached(multipliers, dict(info.get("attention", {})),
                    list(info.get("attention_unset", [])), handles)


def _preset(**options: Any) -> Policy:
    return policy(**options)
