"""The exactly-once audit: where every parameter and buffer got its values, and what is wrong.

``audit(model, plan=None, *, state_dict=None)`` lists every tensor of the model (tied
names folded into one row) with its provenance -- a plan rule, the model's own init, a
state dict, the constructor, or untouched -- and flags what escaped initialization:

* still on the meta device (never initialized);
* ``torch.empty`` garbage, seen in the values: NaN/inf, denormals, absurd magnitudes;
* far outside the planned std (a relative tolerance 6/sqrt(2n) + 0.25 on n sampled values,
  so a missing sqrt(2) is caught and sampling noise is not; constants and zeros skipped);
* written twice with different specs (two rows or two plans on the same storage), or tied
  names treated two ways.

With ``plan=None`` the plans ``initlab.apply`` / ``initlab.materialize`` recorded on the
model (``model.__dict__["_initlab_plans"]``) are used.

The value checks live in :mod:`initlab.policy.audit_checks`, the report in
:mod:`initlab.policy.audit_report`; this module gathers the plans and tensors and runs them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

from initlab.errors import ConfigError
from initlab.policy.audit_checks import SAMPLE, _garbage, _region, _std_problem
from initlab.policy.audit_report import AuditReport
from initlab.policy.parametrized import originals, parametrized_tensors
from initlab.policy.plan_rows import Plan, PlanRow

# what ``audit(plan=)`` accepts: a Plan, a plan dict, a list of them, or None (the recorded ones)
Plans = Plan | dict[str, Any] | Sequence[Plan | dict[str, Any]] | None

__all__ = ["audit", "AuditReport", "PLANS_KEY", "MATERIALIZED_KEY", "SAMPLE", "effective_originals"]

PLANS_KEY = "_initlab_plans"
"""``model.__dict__`` key of the list of plans executed on the model."""

MATERIALIZED_KEY = "materialized"
"""``plan.meta`` key where materialize records {"buffers", "native", "constructor"}."""


# ------------------------------------------------------------------------------ inputs


def _plans(model: nn.Module, plan: Plans) -> list[Plan]:
    if plan is None:
        return list(model.__dict__.get(PLANS_KEY, []))
    items = list(plan) if isinstance(plan, list | tuple) else [plan]
    out: list[Plan] = []
    for p in items:
        if isinstance(p, dict):
            p = Plan.from_dict(p)
        if not isinstance(p, Plan):
            raise ConfigError(f"audit() takes a Plan, a plan dict or a list of them; got "
                              f"{type(p).__name__}. Hint: pass the Plan initlab.apply returned.")
        out.append(p)
    return out


def _groups(model: nn.Module) -> list[tuple[str, list[str], torch.Tensor]]:
    """[(kind, names, tensor)], tied names together, in model order."""
    seen: dict[int, tuple[str, list[str], torch.Tensor]] = {}
    for kind, items in (("parameter", model.named_parameters(remove_duplicate=False)),
                        ("buffer", model.named_buffers(remove_duplicate=False))):
        for name, t in items:
            if t is None:
                continue
            seen.setdefault(id(t), (kind, [], t))[1].append(name)
    return list(seen.values())


def effective_originals(model: nn.Module) -> dict[str, list[str]]:
    """{effective name ("conv.weight"): [the parameters it is computed from]} for weights
    under a parametrization (weight_norm, spectral_norm, ...): plan rows name the effective
    tensor (see ``initlab.policy.parametrized``)."""
    out: dict[str, list[str]] = {}
    for mname, m in model.named_modules():
        found = originals(m)
        if not found:
            continue
        prefix = f"{mname}." if mname else ""
        for tname in parametrized_tensors(m):
            out[prefix + tname] = sorted(prefix + o for o in found
                                         if o.startswith((f"parametrizations.{tname}.", f"{tname}_")))
    return out


# --------------------------------------------------------------------------- the audit


def _records(plans: list[Plan]) -> dict[str, str]:
    """{name: provenance} from materialize's records in the plans' meta."""
    out: dict[str, str] = {}
    for p in plans:
        rec = p.meta.get(MATERIALIZED_KEY) or {}
        for name, label in (rec.get("buffers") or {}).items():
            out[name] = f"buffer: {label}"
        for name, label in (rec.get("native") or {}).items():
            out[name] = f"native: {label}"
        for name in rec.get("constructor") or ():
            out[name] = "constructor, not meta"
        for name in rec.get("kept") or ():
            out[name] = "constructor (kept values)"
    return out


def _conflicts(names: list[str], writes: list[tuple[int, PlanRow]], length: int) -> list[str]:
    problems: list[str] = []
    for i, (pi, a) in enumerate(writes):
        for pj, b in writes[i + 1:]:
            (a0, a1), (b0, b1) = _region(a, length), _region(b, length)
            if a.init == b.init or a1 <= b0 or b1 <= a0:
                continue
            if (a.name == b.name and getattr(a, "block", None) is not None
                    and getattr(b, "block", None) is not None and a.key != b.key):
                continue  # two blocks (fused sections, experts) of one tensor
            if a.name != b.name:
                problems.append(f"tied tensors treated two ways: '{a.key}' by {a.init} and "
                                f"'{b.key}' by {b.init} (one storage)")
            else:
                where = "one plan" if pi == pj else f"plans {pi + 1} and {pj + 1}"
                problems.append(f"'{a.key}' initialized twice: by {a.init} and by {b.init} ({where})")
    return problems


def _effective_std(model: nn.Module, effective: dict[str, list[str]],
                   by_name: dict[str, list[tuple[int, PlanRow]]]) -> list[str]:
    """The std check of parametrized weights, on the effective tensor they compute."""
    problems: list[str] = []
    for eff, names in effective.items():
        writes = [row for _, row in by_name.get(names[0], []) if row.name == eff and row.init != "keep"]
        if not writes:
            continue
        mname, _, tname = eff.rpartition(".")
        module = model.get_submodule(mname) if mname else model
        try:
            with torch.no_grad():
                w = getattr(module, tname)
        except Exception:  # a parametrization that cannot run here (e.g. meta originals)
            continue
        if w.is_meta or not w.is_floating_point():
            continue
        problem = _std_problem(eff, w, writes[-1])[1]
        if problem:
            problems.append(problem)
    return problems


def _provenance(kind: str, t: torch.Tensor, names: list[str], last: PlanRow | None,
                records: dict[str, str], in_sd: bool) -> str:
    if t.is_meta:
        return "untouched (on meta)"
    if in_sd:
        return "state dict"
    recorded = next((records[n] for n in names if n in records), None)
    if last is not None:
        if last.init == "keep":
            return recorded or "keep (constructor values)"
        if last.rule == "native" or last.reason.startswith("native"):
            return f"native: {last.reason.removeprefix('native:').strip() or last.init}"
        return f"rule {last.rule}" if last.rule else "rule"
    if recorded:
        return recorded
    return "constructor" if kind == "buffer" else "untouched"


def audit(model: nn.Module, plan: Plans = None, *,
          state_dict: Mapping[str, Any] | None = None) -> AuditReport:
    """Provenance of every parameter and buffer of ``model``, and what escaped initialization.

    Args:
        model: the model to audit (any device; meta tensors are reported as never initialized).
        plan: a Plan (or plan dict, or list of them); None uses the plans ``initlab.apply`` and
            ``initlab.materialize`` recorded on the model.
        state_dict: the weights loaded into the model, if any: their keys count as initialized
            ("state dict"), and a loaded tensor whose values changed since is flagged.

    Returns:
        An :class:`AuditReport`: ``.ok``, ``.problems`` (one line each), ``.rows``.

    Raises:
        ConfigError: ``model`` is not a module, ``plan`` is not a Plan (or plan dict, or a
            list of them), or ``state_dict`` is not a mapping.

    Examples:
        >>> from initlab.policy.apply import apply
        >>> net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
        >>> _ = apply(net, "auto", seed=0)
        >>> report = audit(net)
        >>> report
        AuditReport(4 tensors, ok=True, 0 problem(s))
        >>> report.rows[0]["name"], report.rows[0]["provenance"]
        ('0.weight', 'rule auto')
        >>> with torch.no_grad():
        ...     _ = net[2].weight.fill_(float("nan"))
        >>> audit(net).problems[0][:34]
        "'2.weight' holds NaN (never initia"
    """
    if not isinstance(model, nn.Module):
        raise ConfigError(f"audit() needs a torch.nn.Module; got {type(model).__name__}.")
    if state_dict is not None and not hasattr(state_dict, "keys"):
        raise ConfigError(f"state_dict must be a mapping; got {type(state_dict).__name__}. "
                          "Hint: audit(model, state_dict=torch.load(path)).")
    plans = _plans(model, plan)
    sd_keys = set(state_dict.keys()) if state_dict is not None else set()
    effective = effective_originals(model)
    by_name: dict[str, list[tuple[int, PlanRow]]] = {}
    for i, p in enumerate(plans):
        for row in p.rows:
            for name in effective.get(row.name, [row.name]):
                by_name.setdefault(name, []).append((i, row))
    records = _records(plans)
    rows: list[dict[str, Any]] = []
    problems: list[str] = []
    known: set[str] = set()
    for kind, names, t in _groups(model):
        known.update(names)
        mine = [w for n in names for w in by_name.get(n, [])]
        mine.sort(key=lambda w: w[0])
        writes = [w for w in mine if w[1].init != "keep"]
        length = t.shape[0] if t.dim() else 1
        found = _conflicts(names, writes, length)
        in_sd = next((n for n in names if n in sd_keys), None)
        last = mine[-1][1] if mine else None
        std: float | None = None
        if t.is_meta:
            found.append(f"'{names[0]}' is still on the meta device (never initialized)")
        else:
            planned = last.std if last is not None and last.init != "keep" else None
            found += _garbage(names[0], t, kind, planned)
            if in_sd is not None and state_dict is not None and writes and not torch.equal(
                    t.detach().cpu(), torch.as_tensor(state_dict[in_sd]).detach().cpu()):
                found.append(f"'{in_sd}' was loaded from the state dict but its values differ "
                             f"(overwritten by {writes[-1][1].init}?)")
            if in_sd is None and not found:
                latest: dict[str, PlanRow] = {}
                for _, row in writes:
                    latest[row.key] = row
                for row in latest.values():
                    if row.name not in names:  # an effective weight: checked below
                        continue
                    s, problem = _std_problem(names[0], t, row)
                    std = s if std is None else std
                    if problem:
                        found.append(problem)
        rows.append({
            "name": names[0], "kind": kind, "tied": names[1:], "shape": list(t.shape),
            "dtype": str(t.dtype).removeprefix("torch."), "device": str(t.device),
            "provenance": _provenance(kind, t, names, last, records, in_sd is not None),
            "init": None if last is None else last.init,
            "planned_std": None if last is None else last.std, "std": std, "problems": found,
        })
        problems += found
    problems += _effective_std(model, effective, by_name)
    for name in sorted(set(by_name) - known):
        problems.append(f"plan row '{name}' names no tensor of {type(model).__name__} "
                        "(a plan for another model?)")
    return AuditReport(rows, problems)
