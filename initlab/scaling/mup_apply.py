"""Using a μP plan: optimizer parameter groups with the learning-rate and weight-decay
multipliers, and the forward-pass parts (:func:`attach`); part of :mod:`initlab.scaling.mup`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from torch import nn

from initlab.errors import ConfigError, UnknownNameError, did_you_mean
from initlab.scaling.mup_rules import OPTIMIZERS

if TYPE_CHECKING:
    from torch.utils.hooks import RemovableHandle

    from initlab.policy.plan import Plan


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
        >>> from initlab.scaling.mup import plan
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
        >>> from initlab.scaling.mup import plan
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
