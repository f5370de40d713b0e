"""Meta-device models: allocate every tensor once and fill it, never running default init.

``materialize`` plans first (a bad policy fails before any allocation), checks that every
meta parameter has a row and computes every meta buffer's values (else one error listing
what would be left: after allocation it would silently hold garbage), checks that the
tensors fit in the device's available memory, then allocates and fills, and ends with the
audit (:func:`initlab.policy.audit.audit`). Parameter values equal ``initlab.apply`` on the
same model built normally, bit for bit; buffer values equal a normal CPU build.

* Buffers: the first strategy of :data:`initlab.policy.buffers.BUFFER_INITS` that fills
  them (BatchNorm statistics, the module's ``reset_buffers``, the model's own init such as
  HF ``_init_weights``, known HF buffers, a parameter-free ``reset_parameters``), computed
  before anything is allocated; no forward pass.
* Rows whose init is ``"keep"`` on a meta parameter: the model's own init for the owning
  module runs for real (seeded from the initlab seed).
* Tensors model code created off the meta device (e.g. with ``torch.Tensor(n)``) keep their
  constructor values, move to ``device``, and the audit says so ("constructor, not meta").
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

import torch
from torch import nn

from initlab._core.checks import check_device, check_seed
from initlab.errors import ConfigError
from initlab.policy.apply import execute
from initlab.policy.audit import MATERIALIZED_KEY, PLANS_KEY, effective_originals
from initlab.policy.audit import audit as run_audit
from initlab.policy.buffers import BUFFER_INITS, buffer_values, native_init_fn, run_native
from initlab.policy.native import CONSTRUCTOR_VALUES
from initlab.policy.plan import build_plan
from initlab.policy.plan_rows import Plan, PlanRow
from initlab.policy.presets import resolve
from initlab.policy.roles import iter_targets
from initlab.policy.rules import PolicyLike
from initlab.policy.sharding import is_sharded

__all__ = ["materialize", "available_memory", "check_device", "BUFFER_INITS"]

# CONSTRUCTOR_VALUES (from policy.native): ``model.__dict__`` key of {name: CPU tensor},
# constructor values kept for meta tensors (build_meta); used before any other way of filling.


def _fmt_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{n} B"
        n /= 1024
    return str(n)


def available_memory(device: torch.device) -> int | None:
    """Bytes available for new tensors on ``device`` (None when unknown)."""
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return int(free)
    if device.type == "cpu" and os.path.exists("/proc/meminfo"):
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    return None


def _check_memory(tensors: list[tuple[str, torch.Tensor]], device: torch.device) -> None:
    need = sum(t.numel() * t.element_size() for _, t in tensors)
    have = available_memory(device)
    if have is not None and need > have:
        raise ConfigError(
            f"The model's {len(tensors)} meta tensors need {_fmt_bytes(need)} on {device}, but "
            f"only {_fmt_bytes(have)} is available; expected them to fit. Hint: shard the model "
            "(FSDP2 fully_shard / DTensor) before materializing, or use a smaller dtype."
        )


def _allocate(model: nn.Module, device: torch.device) -> None:
    """Give every meta tensor storage on ``device`` (shared tensors stay shared).

    Sharded (DTensor) models go through ``Module._apply`` like ``to_empty`` so that FSDP2
    sees the new local shards; plain models swap tensors themselves, keeping tied weights
    tied (``to_empty`` unties them) and ``requires_grad`` as it was.
    """
    if any(is_sharded(p) for p in model.parameters()):
        model._apply(lambda t: torch.empty_like(t, device=device) if t.is_meta else t.to(device))
        return
    memo: dict[int, torch.Tensor] = {}
    for m in model.modules():
        stores: tuple[dict[str, Any], ...] = (m._parameters, m._buffers)
        for store in stores:
            for k, t in store.items():
                if t is None:
                    continue
                if id(t) not in memo:
                    # empty_strided, not empty_like: empty_like of a meta tensor goes through
                    # torch._refs and imports sympy (~0.7 s)
                    new = (torch.empty_strided(t.size(), t.stride(), dtype=t.dtype, device=device)
                           if t.is_meta else t.to(device))
                    if isinstance(t, nn.Parameter):
                        new = nn.Parameter(new, requires_grad=t.requires_grad)
                    memo[id(t)] = new
                store[k] = memo[id(t)]


def _select(plan: Plan, meta_params: set[str],
            effective: dict[str, list[str]]) -> tuple[list[PlanRow], set[str]]:
    """The rows that write meta parameters, and the parameter names they cover."""
    rows: list[PlanRow] = []
    covered: set[str] = set()
    for r in plan.rows:
        names = {r.name} if r.name in meta_params else set(effective.get(r.name, ())) & meta_params
        if names:
            rows.append(r)
            covered |= names
    return rows, covered


def _keep_modules(model: nn.Module, rows: list[PlanRow], kept: dict[str, torch.Tensor],
                  effective: dict[str, list[str]]) -> dict[str, list[str]]:
    """{module name: [parameter names]} whose "keep" rows need the model's own init."""
    out: dict[str, list[str]] = {}
    missing: list[str] = []
    for r in rows:
        if r.init != "keep" or r.name in kept:
            continue
        mname = r.name.rpartition(".")[0]
        if native_init_fn(model, mname) is None:
            missing.append(r.name)
        else:
            out.setdefault(mname, []).extend(effective.get(r.name, [r.name]))
    if missing:
        raise ConfigError(
            f"materialize cannot keep {len(missing)} meta parameter(s) ({', '.join(missing[:6])}"
            f"{' ...' if len(missing) > 6 else ''}): a meta tensor has no values to keep and "
            "the model has no own init for its module; expected a rule for each. Hint: add a "
            "Rule(name=..., init=...) for them, or build the model on CPU and use initlab.apply."
        )
    return out


def _left_error(left: list[str], errors: dict[str, str]) -> ConfigError:
    ways = ", ".join(s.label for s in BUFFER_INITS)
    why = next((f" ({n}: {errors[n]})" for n in left if n in errors), "")
    return ConfigError(
        f"materialize would leave {len(left)} tensor(s) uninitialized (garbage after "
        f"allocation): {', '.join(left[:10])}{' ...' if len(left) > 10 else ''}{why}. Hint: "
        "build the model with initlab.build_meta(make_model) (parameters on meta, buffers "
        "computed by the constructors), add rules for these parameters, or give the module a "
        f"reset_buffers() method (tried: {ways})."
    )


def _snapshot(model: nn.Module, names: set[str]) -> list[tuple[torch.Tensor, torch.Tensor]]:
    tensors = dict(model.named_parameters()) | dict(model.named_buffers())
    return [(tensors[n], tensors[n].detach().clone()) for n in sorted(names) if n in tensors]


def _fill_kept(model: nn.Module, names: set[str], kept: dict[str, torch.Tensor]) -> None:
    tensors = dict(model.named_parameters()) | dict(model.named_buffers())
    for n in names:
        tensors[n].detach().copy_(kept[n])


def materialize(model: nn.Module, policy: PolicyLike | Plan = "auto", *, seed: int = 0,
                device: torch.device | str = "cpu", example_input: Any = None,
                check_memory: bool = True, threads: int | None = None, audit: bool = True,
                keep: Iterable[str] | None = None) -> nn.Module:
    """Allocate a meta-device ``model`` on ``device`` and initialize it by ``policy``.

    Args:
        model: a model built under ``with torch.device("meta"):`` (or partly on meta).
        policy: a preset name, a Policy, a Plan, or an initializer spec.
        seed: the seed of the keyed random streams.
        device: where the tensors are allocated.
        example_input: used by the plan when activations must be found by running the model.
        check_memory: refuse (before allocating) when the tensors do not fit in memory.
        threads: threads filling the random streams (None: initlab's default).
        audit: end with :func:`initlab.audit` and raise when a tensor escaped.
        keep: names of parameters not on meta whose values are kept (e.g. loaded from a
            checkpoint). Other parameters that model code created off the meta device (XLNet's
            ``torch.FloatTensor(...)``: uninitialized memory; wav2vec2's ``uniform_()``) are
            initialized by the plan, as ``apply`` would.

    Returns:
        The model (the same object). Buffers not on the meta device (and ``keep``) keep
        their values and move to ``device``. The executed plan is recorded in
        ``model._initlab_plans``.

    Raises:
        ConfigError: ``model`` has no tensors on the meta device, the device or seed is
            invalid, the tensors do not fit in memory, a tensor would be left uninitialized,
            or the closing audit finds a tensor that escaped initialization.

    Examples:
        >>> with torch.device("meta"):
        ...     net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
        >>> net = materialize(net, "auto", seed=0)
        >>> net[0].weight.device.type
        'cpu'
    """
    if not isinstance(model, nn.Module):
        raise ConfigError(f"materialize() needs a torch.nn.Module; got {type(model).__name__}.")
    dev = check_device(device)
    seed = check_seed(seed)
    meta_params = {n for n, p in model.named_parameters() if p.is_meta}
    meta_buffers = {n for n, b in model.named_buffers() if b is not None and b.is_meta}
    kept_params = set(keep or ())
    off_meta = ({n for n, p in model.named_parameters() if not p.is_meta} - kept_params
                if meta_params or meta_buffers else set())
    constructor = sorted(n for n, t in [*model.named_parameters(), *model.named_buffers()]
                         if t is not None and not t.is_meta and n not in off_meta)
    if not meta_params and not meta_buffers:
        raise ConfigError(
            f"{type(model).__name__} has no tensors on the meta device; materialize() expects a "
            "model built under `with torch.device('meta'):`. Hint: use initlab.apply(model, "
            "policy, seed=...) for a model that already has storage."
        )
    if isinstance(policy, Plan):
        plan = policy
    else:
        planned = meta_params | off_meta
        wanted = planned | {e for e, o in effective_originals(model).items() if set(o) & planned}
        targets = [t for t in iter_targets(model) if t.name in wanted]
        plan = (build_plan(model, resolve(policy), example_input=example_input, targets=targets)
                if targets else Plan([], {}))
    effective = effective_originals(model)
    rows, covered = _select(plan, meta_params | off_meta, effective)
    kept = {n: v for n, v in model.__dict__.get(CONSTRUCTOR_VALUES, {}).items()
            if n in meta_params | meta_buffers}
    keep_modules = _keep_modules(model, rows, kept, effective)
    found = buffer_values(model, meta_buffers - set(kept), seed=seed)
    left = sorted(meta_params - covered - set(kept)) + found.left
    if left:
        raise _left_error(left, found.errors)
    tensors: list[tuple[str, torch.Tensor]] = [
        (n, p) for n, p in model.named_parameters() if p.is_meta]
    tensors += [(n, b) for n, b in model.named_buffers() if b is not None and b.is_meta]
    if check_memory:
        _check_memory(tensors, dev)
    _allocate(model, dev)
    native: dict[str, str] = {}
    with torch.no_grad():
        if keep_modules:
            saved = _snapshot(model, set(constructor))  # own inits must not touch these
            for names in keep_modules.values():
                for n in names:
                    model.get_parameter(n).detach().fill_(float("nan"))  # the audit sees a miss
            for mname, label in run_native(model, keep_modules, seed=seed).items():
                native.update(dict.fromkeys(keep_modules[mname], label))
            for t, clone in saved:
                t.detach().copy_(clone)
        _fill_kept(model, set(kept), kept)
        buffers = dict(model.named_buffers())
        for n, value in found.values.items():
            buffers[n].detach().copy_(value)
        execute(model, [r for r in rows if r.init != "keep"], seed=seed, threads=threads)
    record = {"buffers": dict(found.labels), "native": native, "constructor": constructor,
              "kept": sorted(kept)}
    done = Plan(rows, {**plan.meta, "seed": seed, MATERIALIZED_KEY: record})
    plans: list[Plan] = model.__dict__.setdefault(PLANS_KEY, [])
    plans.append(done)
    if audit:
        report = run_audit(model, done)
        if not report.ok:
            raise ConfigError(
                f"materialize finished but {len(report.problems)} tensor(s) escaped "
                f"initialization: {'; '.join(report.problems[:3])}"
                f"{' ...' if len(report.problems) > 3 else ''}. Hint: initlab.audit(model) "
                "lists every tensor with its provenance; add rules for these."
            )
    return model
