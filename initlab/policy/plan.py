"""Building the Plan: match every parameter of a model against a policy's rules.

The Plan data type (:class:`Plan`, :class:`PlanRow`) lives in :mod:`initlab.policy.plan_rows`
and is re-exported here.
"""

from __future__ import annotations

import fnmatch
import warnings
from collections.abc import Callable
from typing import Any, TypeVar

import torch
from torch import nn

from initlab._core.calls import call_model
from initlab.errors import ConfigError, did_you_mean
from initlab.init import fans, get
from initlab.policy.act_table import NONE, ActivationInfo
from initlab.policy.activations import detect_activations
from initlab.policy.choosers import spec
from initlab.policy.plan_rows import Plan, PlanRow
from initlab.policy.presets import resolve
from initlab.policy.roles import Target, iter_targets
from initlab.policy.rules import CHOOSERS, Choice, Policy, PolicyLike

T = TypeVar("T")

__all__ = ["Plan", "PlanRow", "plan", "build_plan"]


class PlanContext:
    """What choosers may look at: the model, the policy options, activations, caches."""

    def __init__(self, model: nn.Module, policy: Policy, targets: list[Target],
                 example_input: Any) -> None:
        self.model, self.policy, self.targets = model, policy, targets
        self.options = policy.options
        self.example_input = example_input
        self.activation_method: str | None = None
        self._activations: dict[str, ActivationInfo] | None = None
        self._cache: dict[str, Any] = {}

    def cached(self, key: str, compute: Callable[[], T]) -> T:
        """``compute()`` once per plan, under ``key``."""
        if key not in self._cache:
            self._cache[key] = compute()
        value: T = self._cache[key]
        return value

    def activation(self, target: Target) -> ActivationInfo:
        """The activation that follows the target's module (detected once per plan)."""
        if self._activations is None:
            names = {t.module_name for t in self.targets if t.role == "weight"}
            self._activations, self.activation_method = detect_activations(
                self.model, names, self.example_input)
        return self._activations.get(target.module_name, NONE)

    def is_out_proj_of_mha(self, target: Target) -> bool:
        """Whether the target belongs to a MultiheadAttention's ``out_proj``."""
        parent, _, attr = target.module_name.rpartition(".")
        mods = self.cached("modules", lambda: dict(self.model.named_modules()))
        return attr == "out_proj" and isinstance(mods.get(parent), nn.MultiheadAttention)


def _check_types(policy: Policy, model: nn.Module) -> None:
    known = {c.__name__ for m in model.modules() for c in type(m).__mro__}
    known |= {n for n in dir(nn) if isinstance(getattr(nn, n), type)}
    known |= {"_ConvNd", "_ConvTransposeNd", "_NormBase", "_BatchNorm", "RNNBase"}
    for rule in policy.rules:
        for t in rule.type or ():
            if t not in known:
                hint = did_you_mean(t, sorted(known))
                raise ConfigError(
                    f"Rule '{rule.label}' names module type '{t}', which is neither a torch.nn "
                    f"class nor a class in {type(model).__name__}.{hint}"
                )


def _default_choice(target: Target) -> Choice:
    if len(target.shape) >= 2:
        return Choice(spec("default"), "unmatched: on_unmatched='default' "
                      "(torch's Linear/Conv default)", layout=None)
    return Choice(spec("zeros"), "unmatched: on_unmatched='default' (zeros)")


def _row(target: Target, choice: Choice, rule_label: str) -> PlanRow:
    layout = target.layout if choice.layout == "same" else choice.layout
    fan_in = fan_out = None
    if len(target.shape) >= 2:
        try:
            fan_in, fan_out = (int(f) for f in fans(target.shape, layout=layout, groups=target.groups))
        except Exception:  # a layout that does not fit this shape: leave the fans out
            fan_in = fan_out = None
    init = choice.init
    try:
        std = init.expected_std(target.shape, layout=layout, groups=target.groups)
    except Exception:
        std = None
    gain = choice.gain
    if gain is None and isinstance(getattr(init, "gain", None), int | float):
        gain = float(init.gain)
    reason = choice.reason
    if target.note and target.note not in reason and target.role not in ("norm_weight",):
        reason = f"{reason} [{target.note}]"
    return PlanRow(target.name, tuple(target.shape), layout, str(init),
                   fan_in, fan_out, gain, None if std is None else float(std), rule_label,
                   reason, target.chunk, target.groups, target.role, target.view,
                   target.block, target.suffix)


def build_plan(model: nn.Module, policy: Policy, *, example_input: Any = None,
               targets: list[Target] | None = None) -> Plan:
    """Match every target against the policy's rules (first match wins)."""
    if targets is None:
        unshaped: list[str] = []
        targets = list(iter_targets(model, unshaped=unshaped))
        _check_unshaped(model, unshaped)
    if not targets:
        raise ConfigError(
            f"{type(model).__name__} has no parameters to initialize; expected a model with at "
            "least one parameter. Hint: check that the layers are registered as submodules."
        )
    _check_types(policy, model)
    ctx = PlanContext(model, policy, targets, example_input)
    rows: list[PlanRow] = []
    unmatched: list[Target] = []
    used: set[int] = set()
    for target in targets:
        choice: Choice | None = None
        label = ""
        for i, rule in enumerate(policy.rules):
            if not rule.matches_static(target):
                continue
            if rule.activation is not None and ctx.activation(target).name not in rule.activation:
                continue
            if rule.init.startswith("@"):
                choice = CHOOSERS.get(rule.init[1:])(target, ctx)
                if choice is None:
                    continue
                if rule.reason:
                    choice.reason = f"{rule.reason}: {choice.reason}"
            else:
                choice = Choice(get(rule.init), rule.reason or f"rule {rule.label}")
            label = rule.label or ""
            if choice.init == "keep":
                label = "keep"
            elif choice.reason.startswith("native"):
                label = "native"
            used.add(i)
            break
        if choice is None:
            if policy.on_unmatched == "error":
                unmatched.append(target)
                continue
            if policy.on_unmatched == "keep":
                continue
            choice, label = _default_choice(target), "on_unmatched"
        rows.append(_row(target, choice, label))
    if unmatched:
        listed = ", ".join(f"{t.key} ({t.module_type}, role {t.role})" for t in unmatched[:8])
        more = f" and {len(unmatched) - 8} more" if len(unmatched) > 8 else ""
        raise ConfigError(
            f"Policy '{policy.name}' has no rule for {len(unmatched)} parameter(s): {listed}{more}. "
            "Hint: add a Rule(name=..., init=...) for them (policy.prepend(...)), or use "
            "on_unmatched='keep' or 'default'."
        )
    _warn_unused_globs(policy, targets)
    meta = {"policy": policy.name, "model": type(model).__name__}
    if ctx.activation_method:
        meta["activations"] = ctx.activation_method
    return Plan(rows, meta)


def _warn_unused_globs(policy: Policy, targets: list[Target]) -> None:
    for rule in policy.rules:
        if not rule.warn_unused or rule.name is None:
            continue
        for g in rule.name:
            if not any(fnmatch.fnmatchcase(t.name, g) or fnmatch.fnmatchcase(t.key, g)
                       for t in targets):
                warnings.warn(f"Rule '{rule.label}': name glob '{g}' matches no parameter.",
                              UserWarning, stacklevel=4)


def _check_unshaped(model: nn.Module, unshaped: list[str]) -> None:
    if unshaped:
        raise ConfigError(
            f"{len(unshaped)} parameter(s) of lazy modules have no shape yet: "
            f"{', '.join(unshaped[:5])}; expected shaped parameters. Hint: pass example_input= "
            "so initlab can run one forward pass to infer them, or run one yourself."
        )


def infer_lazy_shapes(model: nn.Module, example_input: Any) -> list[str]:
    """Run one forward pass to shape lazy modules; returns the names that were unshaped."""
    names = [n for n, p in model.named_parameters()
             if isinstance(p, nn.parameter.UninitializedParameter)]
    if names and example_input is not None:
        with torch.no_grad():
            call_model(model, example_input)
    return names


def plan(model: nn.Module, policy: PolicyLike | Plan = "auto", *,
         example_input: Any = None) -> Plan:
    """The Plan ``policy`` gives for ``model`` (nothing is written).

    Args:
        model: any ``nn.Module`` (CPU, GPU or meta device).
        policy: a preset name (``initlab.policies()``), a Policy, a Plan (returned as is), a
            policy dict or an initializer spec.
        example_input: a batch (tensor, tuple or dict), used when torch.fx cannot trace the
            model (the activations are then found by running it) and to shape lazy modules.

    Returns:
        The Plan: one row per parameter with its initializer, fans, gain, std and reason.

    Raises:
        ConfigError: ``model`` is not a module, has no parameters, or a parameter matches no
            rule of the policy (with ``on_unmatched="error"``).
        UnknownNameError: ``policy`` names no preset and no initializer.

    Examples:
        >>> net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
        >>> p = plan(net, "auto")
        >>> p["0.weight"].reason
        'relu follows (fx: ReLU): He normal'
        >>> p["2.weight"].init
        'xavier_uniform(gain=1.0)'
    """
    if not isinstance(model, nn.Module):
        raise ConfigError(f"plan() needs a torch.nn.Module; got {type(model).__name__}.")
    if isinstance(policy, Plan):
        return policy
    resolved = resolve(policy)
    infer_lazy_shapes(model, example_input)
    return build_plan(model, resolved, example_input=example_input)
