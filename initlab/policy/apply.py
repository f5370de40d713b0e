"""Executing a plan: validate every row first, then fill through the keyed streams.

Values depend only on (seed, fully qualified name, global shape, initializer spec); see
DESIGN.md "Randomness contract". Nothing is written until the whole plan has been checked
against the model, so a bad plan leaves the model untouched.
"""

from __future__ import annotations

import fnmatch
import warnings
from collections.abc import Iterable, Mapping
from typing import Any

import torch
from torch import nn

from initlab._core.checks import check_seed
from initlab.errors import ConfigError
from initlab.init import get
from initlab.init.registry import Initializer
from initlab.policy.parametrized import EffectiveWeight, effective_target, fill_effective
from initlab.policy.plan import build_plan, infer_lazy_shapes
from initlab.policy.plan_rows import Plan, PlanRow
from initlab.policy.presets import resolve
from initlab.policy.roles import iter_targets
from initlab.policy.rules import PolicyLike
from initlab.policy.sharding import fill_block, fill_row, local_view

__all__ = ["apply", "select_rows", "execute", "check_seed", "Only"]

# what ``only=`` selects: a glob, a list of names/globs, "missing" or "uninitialized"
Only = str | Iterable[str] | None
# a validated row: the tensor to write (or the parametrized weight behind it), the row, its init
Job = tuple[torch.Tensor | EffectiveWeight, PlanRow, Initializer]


def _only_names(model: nn.Module, only: Only, state_dict: Mapping[str, Any] | None,
                lazy: list[str]) -> set[str] | None:
    """The parameter names ``only`` selects (None: all)."""
    if only is None:
        if state_dict is not None:
            raise ConfigError("state_dict= is only used with only='missing'; got only=None. "
                              "Hint: apply(model, policy, only='missing', state_dict=sd).")
        return None
    names = [n for n, _ in model.named_parameters()]
    if only == "missing":
        if state_dict is None:
            raise ConfigError(
                "only='missing' needs the loaded weights; got state_dict=None. Hint: "
                "apply(model, policy, only='missing', state_dict=sd) initializes the parameters "
                "whose keys are absent from sd."
            )
        if not hasattr(state_dict, "keys"):
            raise ConfigError(f"state_dict must be a mapping; got {type(state_dict).__name__}.")
        keys = set(state_dict.keys())
        return {n for n in names if n not in keys}
    if only == "uninitialized":
        return set(lazy)
    globs = [only] if isinstance(only, str) else list(only) if isinstance(only, Iterable) else None
    if globs is None or not all(isinstance(g, str) for g in globs):
        raise ConfigError(
            f"only must be a glob, a list of names/globs, 'missing' or 'uninitialized'; got {only!r}."
        )
    selected: set[str] = set()
    for g in globs:
        hit = {n for n in names if fnmatch.fnmatchcase(n, g)}
        if not hit:
            warnings.warn(f"only='{g}' matches no parameter of {type(model).__name__}.",
                          UserWarning, stacklevel=3)
        selected |= hit
    return selected


def select_rows(plan: Plan, names: set[str] | None) -> list[PlanRow]:
    """The plan's rows for ``names`` (all rows when None), in plan order."""
    return list(plan.rows) if names is None else [r for r in plan.rows if r.name in names]


def _validate(model: nn.Module, rows: list[PlanRow]) -> list[Job]:
    """(param, row, initializer) for every row, or one ConfigError listing every problem."""
    params = dict(model.named_parameters())
    problems: list[str] = []
    jobs: list[Job] = []
    for row in rows:
        if row.init == "keep":
            continue
        p = params.get(row.name)
        if p is None:
            eff = effective_weight(model, row.name)
            if eff is not None:
                found = _get_or_problem(row, problems)
                if found is not None:
                    jobs.append((eff, row, found))
                continue
            problems.append(f"'{row.name}' is not a parameter of the model")
            continue
        shape = tuple(p.shape)
        if row.block is not None or row.view is not None:
            dest = block_view(p, row)
            if dest is None or tuple(dest.shape) != tuple(row.shape):
                problems.append(f"'{row.key}' block {row.block} (view {row.view}) of shape "
                                f"{tuple(row.shape)} does not fit the parameter's shape {shape}")
                continue
        elif row.chunk is not None:
            i, n = row.chunk
            if not shape or shape[0] % n or (shape[0] // n, *shape[1:]) != tuple(row.shape) or not 0 <= i < n:
                problems.append(f"'{row.key}' chunk {row.chunk} of shape {tuple(row.shape)} does "
                                f"not fit the parameter's shape {shape}")
                continue
        elif shape != tuple(row.shape):
            problems.append(f"'{row.name}' has shape {shape}, the plan says {tuple(row.shape)}")
            continue
        try:
            init = get(row.init)
        except Exception as exc:  # report every bad spec at once
            problems.append(f"'{row.key}': {exc}")
            continue
        if init is not None:
            jobs.append((p, row, init))
    if problems:
        raise ConfigError(
            f"The plan does not fit the model ({len(problems)} problem(s)): "
            + "; ".join(problems[:6]) + (" ..." if len(problems) > 6 else "")
            + ". Nothing was written. Hint: rebuild the plan with initlab.plan(model, policy)."
        )
    return jobs


def _get_or_problem(row: PlanRow, problems: list[str]) -> Initializer | None:
    try:
        return get(row.init)
    except Exception as exc:
        problems.append(f"'{row.key}': {exc}")
        return None


def block_view(p: torch.Tensor, row: PlanRow) -> torch.Tensor | None:
    """The part of ``p`` a row with a ``view``/``block`` covers, as a view of its storage."""
    data = p.data if isinstance(p, nn.Parameter) else p
    try:
        if row.view == "T":
            data = data.t()
        index = tuple(b if isinstance(b, int) else slice(b[0], b[1]) for b in row.block or ())
        if row.view == "E":  # experts stored (experts, in, out): index the expert, then transpose
            sub = data[index[0]]
            return sub.t()[index[1:]] if len(index) > 1 else sub.t()
        return data[index] if index else data
    except (IndexError, RuntimeError, TypeError):
        return None


def effective_weight(model: nn.Module, name: str) -> EffectiveWeight | None:
    """Parametrized weights are planned by their effective tensor: see policy.parametrized."""
    return effective_target(model, name)


def _rows_slice(p: torch.Tensor, row: PlanRow) -> slice:
    if row.chunk is None:
        return slice(0, p.shape[0] if p.dim() else 1)
    size = p.shape[0] // row.chunk[1]
    return slice(row.chunk[0] * size, (row.chunk[0] + 1) * size)


def _zero_padding_rows(model: nn.Module, filled: set[str]) -> None:
    """Embedding(padding_idx=...) keeps its padding row at 0, as torch's constructor does
    (tied tables too, whichever of their names the plan uses)."""
    params = dict(model.named_parameters())
    ids = {id(params[n]) for n in filled if n in params}
    for m in model.modules():
        if isinstance(m, nn.Embedding) and m.padding_idx is not None and id(m.weight) in ids:
            local, region = local_view(m.weight)
            idx = m.padding_idx
            if region is None:
                local[idx].zero_()
            elif region[0].start <= idx < region[0].stop:
                local[idx - region[0].start].zero_()


def execute(model: nn.Module, rows: list[PlanRow], *, seed: int,
            threads: int | None = None) -> None:
    """Validate all rows, then fill them (under no_grad)."""
    seed = check_seed(seed)
    jobs = _validate(model, rows)
    with torch.no_grad():
        for p, row, init in jobs:
            if isinstance(p, EffectiveWeight):
                fill_effective(p, row, init, seed=seed, threads=threads)
            elif row.block is not None or row.view is not None:
                dest = block_view(p, row)
                if dest is not None:  # checked by _validate
                    fill_block(p, dest, row, init, seed=seed, threads=threads)
            else:
                fill_row(p, _rows_slice(p, row), tuple(row.shape), init, seed=seed, key=row.key,
                         spec=row.init, layout=row.layout, groups=row.groups, threads=threads)
        _zero_padding_rows(model, {row.name for row in rows
                                   if row.role in ("embedding", "tied_embedding")
                                   and row.init != "keep"})


def _check_not_meta(model: nn.Module) -> None:
    meta = [n for n, p in model.named_parameters() if p.is_meta]
    if meta:
        raise ConfigError(
            f"{len(meta)} parameter(s) are on the meta device (e.g. '{meta[0]}'); apply() writes "
            "into existing tensors. Hint: use initlab.materialize(model, policy, seed=..., "
            "device=...) to allocate and initialize a meta model."
        )


def apply(model: nn.Module, policy: PolicyLike | Plan = "auto", *, seed: int = 0, only: Only = None,
          state_dict: Mapping[str, Any] | None = None, freeze: bool | None = None,
          example_input: Any = None, threads: int | None = None) -> Plan:
    """Initialize ``model`` in place by ``policy`` and return the Plan that was executed.

    Values come from keyed random streams: a parameter's values depend only on ``seed``, its
    name, its shape and its initializer spec. The whole plan is checked before anything is
    written, so a plan that does not fit leaves the model untouched.

    Args:
        model: the model to initialize (its tensors must have storage; for a model on the
            meta device use :func:`initlab.policy.materialize.materialize`).
        policy: a preset name (``policies()``), a Policy, a Plan, a policy dict or an
            initializer spec (``"xavier_uniform"``: that initializer for every weight).
        seed: the seed of the keyed random streams (an int >= 0).
        only: a glob or a list of names/globs, ``"missing"`` (with ``state_dict=``: the
            parameters absent from it) or ``"uninitialized"`` (lazy modules' parameters,
            shaped by one forward pass on ``example_input``); all other parameters stay
            bit-identical. None: every parameter.
        state_dict: the loaded weights, with ``only="missing"``.
        freeze: True sets ``requires_grad=False`` on every parameter that was not initialized.
        example_input: a batch (tensor, tuple or dict) used to shape lazy modules and, when
            torch.fx cannot trace the model, to find the activations by running it.
        threads: threads filling the random streams (None: initlab's default).

    Returns:
        The executed Plan (also appended to ``model._initlab_plans``).

    Raises:
        ConfigError: ``model`` is not a module or is on the meta device, the seed or ``only``
            is invalid, or the plan does not fit the model (nothing is written then).
        UnknownNameError: ``policy`` names no preset and no initializer.

    Examples:
        >>> net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
        >>> done = apply(net, "auto", seed=0)
        >>> done
        Plan(4 rows, policy='auto')
        >>> done["0.weight"].init
        "kaiming_normal(a=0.0, mode='fan_in', nonlinearity='relu')"
        >>> again = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
        >>> _ = apply(again, "auto", seed=0)
        >>> torch.equal(net[0].weight, again[0].weight)  # same seed, same values
        True
    """
    if not isinstance(model, nn.Module):
        raise ConfigError(f"apply() needs a torch.nn.Module; got {type(model).__name__}.")
    _check_not_meta(model)
    seed = check_seed(seed)
    lazy = [n for n, p in model.named_parameters()
            if isinstance(p, nn.parameter.UninitializedParameter)]
    if lazy and example_input is None:
        raise ConfigError(
            f"{len(lazy)} lazy parameter(s) have no shape yet (e.g. '{lazy[0]}'); expected "
            "shaped parameters. Hint: pass example_input= so initlab runs one forward pass."
        )
    infer_lazy_shapes(model, example_input)
    names = _only_names(model, only, state_dict, lazy)
    if isinstance(policy, Plan):
        full = policy
    else:
        targets = [t for t in iter_targets(model) if names is None or t.name in names]
        if not targets and names is not None:
            if only in ("missing", "uninitialized"):  # globs have warned already
                warnings.warn(f"only={only!r} selects no parameter; nothing was initialized.",
                              UserWarning, stacklevel=2)
            return Plan([], {"policy": getattr(policy, "name", str(policy)), "seed": seed})
        full = build_plan(model, resolve(policy), example_input=example_input, targets=targets)
    rows = select_rows(full, names)
    execute(model, rows, seed=seed, threads=threads)
    done = Plan(rows, {**full.meta, "seed": seed,
                       **({"only": only if isinstance(only, str) else list(only)} if only else {})})
    plans: list[Plan] = model.__dict__.setdefault("_initlab_plans", [])
    plans.append(done)
    if freeze:
        initialized = {r.name for r in rows if r.init != "keep"}
        for n, p in model.named_parameters():
            if n not in initialized:
                p.requires_grad_(False)
    return done
