"""The μP settings (:class:`MuP`), the init and learning-rate rules per μP class, and the
μP :func:`policy` (part of :mod:`initlab.scaling.mup`)."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from initlab.errors import ConfigError
from initlab.policy.choosers import AUTO_SCHEMES, spec
from initlab.policy.rules import Choice, Policy, Rule, chooser
from initlab.scaling.mup_base import Base, _head_dims
from initlab.scaling.shapes import Width, base_shapes, classify, lookup

if TYPE_CHECKING:
    from initlab.policy.plan import PlanContext
    from initlab.policy.roles import Target

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


def _preset(**options: Any) -> Policy:
    return policy(**options)
