"""The coordinate check: does the scale of every activation, and of every update, stay put
as the model gets wider?

For each width, the model is built, initialized by the parametrization, and trained a few
steps on one fixed batch. Recorded, in long format ``{width, step, layer, stat, value}``:

- ``act``: RMS of every leaf module's output (and the model's, layer ``"<output>"``);
- ``delta``: RMS of the change of that output since step 0 (same batch);
- ``dw``: spectral ``||W_t - W_0|| / ||W_0||`` of every matrix;
- ``decay``: the per-step decay ``lr x weight_decay`` each parameter gets from the optimizer.

A setup is healthy when, against width (log-log slopes): no activation grows, no update of
an output grows or vanishes (``delta``), and the decay per step does not change. ``dw`` is
reported (``slopes("dw")``) but not judged: at the widths a CPU affords, the spectral ratio
of a few small steps is too noisy for a verdict. Under SP
with Adam the updates grow about like width; under a correct μP every slope stays near 0.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from torch import nn

import initlab.scaling.mup as mup
from initlab._core.calls import first_tensor as _first_tensor
from initlab.errors import ConfigError, UnknownNameError, did_you_mean

if TYPE_CHECKING:
    from pathlib import Path

    from initlab.policy.plan import Plan
    from initlab.policy.rules import Policy

PlanFn = Callable[[nn.Module, int], "Plan"]
OptimizerFn = Callable[[nn.Module, "Plan", float, float], torch.optim.Optimizer]

__all__ = ["coord_check", "CoordCheck", "OUTPUT"]

OUTPUT = "<output>"
_OPTIMIZERS = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW, "sgd": torch.optim.SGD}
_TINY = 1e-12


def _loglog_slope(xs: Sequence[float], ys: Sequence[float]) -> float:
    pts = [(math.log2(x), math.log2(y)) for x, y in zip(xs, ys) if y > _TINY and math.isfinite(y)]
    if len(pts) < 2:
        return 0.0
    mx = sum(p[0] for p in pts) / len(pts)
    my = sum(p[1] for p in pts) / len(pts)
    den = sum((p[0] - mx) ** 2 for p in pts)
    return sum((p[0] - mx) * (p[1] - my) for p in pts) / den if den else 0.0


@dataclass
class CoordCheck:
    """A coordinate check's records and verdict; see :func:`coord_check`."""

    widths: list[int]
    steps: int
    parametrization: str
    records: list[dict] = field(default_factory=list)
    tol: float = 0.25
    vanish_tol: float = 0.5

    @property
    def verdict_widths(self) -> list[int]:
        """The widths the verdict fits: all but the smallest when there are four or more
        (finite-width transients are largest there)."""
        return self.widths[1:] if len(self.widths) >= 4 else list(self.widths)

    def values(self, layer: str = OUTPUT, stat: str = "act", step: int = -1) -> list[float]:
        """The value of ``stat`` for ``layer`` at ``step`` (negative: from the end), per width."""
        step = step if step >= 0 else self.steps + 1 + step
        by_width = {r["width"]: r["value"] for r in self.records
                    if r["layer"] == layer and r["stat"] == stat and r["step"] == step}
        return [by_width.get(w, math.nan) for w in self.widths]

    def layers(self, stat: str = "act") -> list[str]:
        seen: dict[str, None] = {}
        for r in self.records:
            if r["stat"] == stat:
                seen.setdefault(r["layer"], None)
        return list(seen)

    def slope(self, layer: str | None = None, step: int = -1, stat: str = "act") -> float:
        """Log-log slope of ``stat`` against width (default: the model output's scale).

        Args:
            layer: a recorded layer name; None: the model's output.
            step: the training step (0 = init; negative counts from the end).
            stat: ``"act"``, ``"delta"``, ``"dw"`` or ``"decay"``.

        Returns:
            d log(value) / d log(width); 0 means width-independent.
        """
        return _loglog_slope(self.widths, self.values(layer or OUTPUT, stat, step))

    def slopes(self, stat: str = "act", step: int = -1, *, verdict: bool = False) -> dict[str, float]:
        """``{layer: slope}`` of ``stat`` at ``step``; ``verdict``: over :attr:`verdict_widths`."""
        if not verdict:
            return {layer: self.slope(layer, step, stat) for layer in self.layers(stat)}
        keep = [self.widths.index(w) for w in self.verdict_widths]
        return {layer: _loglog_slope(self.verdict_widths,
                                     [self.values(layer, stat, step)[i] for i in keep])
                for layer in self.layers(stat)}

    def _bad(self, s: float) -> bool:
        return s > self.tol or s < -self.vanish_tol

    @property
    def problems(self) -> list[str]:
        """What makes the check fail, one line each (empty when healthy)."""
        out = []
        for t in range(self.steps + 1):
            for layer, s in self.slopes("act", t, verdict=True).items():
                if s > self.tol:
                    out.append(f"step {t}: activation of {layer} grows with width (slope {s:+.2f})")
            if t == 0:
                continue
            for layer, s in self.slopes("delta", t, verdict=True).items():
                if self._bad(s):
                    what = "grows" if s > 0 else "vanishes"
                    out.append(f"step {t}: update of {layer}'s output {what} with width "
                               f"(slope {s:+.2f})")
        for layer, s in self.slopes("decay", 0, verdict=True).items():
            if abs(s) > self.tol:
                out.append(f"weight decay per step (lr x wd) of {layer} changes with width "
                           f"(slope {s:+.2f}); expected lr x wd constant")
        return out

    @property
    def healthy(self) -> bool:
        """True when no slope is above ``tol`` or below ``-vanish_tol`` (see :attr:`problems`)."""
        return not self.problems

    def to_dict(self) -> dict:
        return {"widths": list(self.widths), "steps": self.steps,
                "parametrization": self.parametrization, "tol": self.tol,
                "vanish_tol": self.vanish_tol,
                "healthy": self.healthy, "problems": self.problems, "records": list(self.records)}

    def plot(self, path: str | Path, layers: list[str] | None = None) -> None:
        """Activation RMS against width, one panel per step (log-log), saved to ``path``
        (``.svg``; ``.png`` / ``.pdf`` via matplotlib). Drawn by initlab's one plotting
        path, :func:`initlab.diagnosis.render.coord_check_chart` (the HTML report's panel)."""
        from initlab.diagnosis.render import coord_check_chart

        coord_check_chart(self, layers=layers).save(path)


# ----------------------------------------------------------------------------- the run
def _call(model: nn.Module, batch: Any) -> Any:
    if isinstance(batch, dict):
        return model(**batch)
    if isinstance(batch, tuple | list):
        return model(batch[0])
    return model(batch)


def _loss(out: Any, batch: Any) -> torch.Tensor:
    if getattr(out, "loss", None) is not None:
        loss: torch.Tensor = out.loss
        return loss
    first = _first_tensor(out)
    if first is None:
        raise ConfigError(f"The model returned {type(out).__name__}, not a tensor, logits or a "
                          "tuple starting with a tensor. Hint: return the logits (or an output "
                          "with .loss).")
    y = first.float()
    target = batch[1] if isinstance(batch, tuple | list) and len(batch) > 1 else None
    if target is None:
        return y.pow(2).mean()
    if target.dtype.is_floating_point:
        return F.mse_loss(y, target)
    return F.cross_entropy(y.reshape(-1, y.shape[-1]), target.reshape(-1))


def _spectral(w: torch.Tensor, iters: int = 24) -> float:
    """Largest singular value by power iteration from a fixed start (an SVD per step is slow)."""
    m = w.detach().float().reshape(w.shape[0], -1)
    v = torch.randn(m.shape[1], generator=torch.Generator().manual_seed(0)).to(m.device)
    s = 0.0
    for _ in range(iters):
        u = m @ v
        s = float(u.norm())
        if s <= _TINY:
            return 0.0
        v = m.T @ (u / s)
        v = v / v.norm().clamp_min(_TINY)
    return s


def _resolve(parametrization: str | Policy | PlanFn, make_model: Callable[[int], nn.Module],
             base_width: int | None, config: mup.MuP | None) -> tuple[str, PlanFn]:
    """(name, fn(model, width) -> Plan)."""
    if callable(parametrization) and not isinstance(parametrization, str):
        return getattr(parametrization, "__name__", "custom"), parametrization
    if parametrization == "mup":
        shapes = mup.base_shapes(make_model, base_width)
        heads = mup.head_dims(make_model, base_width)
        return "mup", lambda model, width: mup.plan(model, base=shapes, attention_base=heads,
                                                    config=config)
    if parametrization == "sp":
        return "sp", lambda model, width: mup.plan(model, config=config)
    from initlab.policy import plan, resolve

    pol = resolve(parametrization)
    return pol.name, lambda model, width: plan(model, pol)


def _optimizer(optimizer: str | OptimizerFn, model: nn.Module, p: Plan, lr: float,
               weight_decay: float) -> torch.optim.Optimizer:
    if callable(optimizer) and not isinstance(optimizer, str):
        return optimizer(model, p, lr, weight_decay)
    if optimizer not in _OPTIMIZERS:
        hint = did_you_mean(str(optimizer), _OPTIMIZERS)
        raise UnknownNameError(f"Unknown optimizer {optimizer!r}.{hint} Expected one of "
                               f"{sorted(_OPTIMIZERS)} or a function (model, plan, lr, "
                               "weight_decay) -> torch.optim.Optimizer.")
    if isinstance(p.meta.get("mup"), dict):
        groups = mup.param_groups(model, p, lr, weight_decay=weight_decay,
                                  optimizer=optimizer)
    else:
        groups = [{"params": [q for q in model.parameters() if q.requires_grad], "lr": lr,
                   "weight_decay": weight_decay}]
    return _OPTIMIZERS[optimizer](groups)


def _decay_rows(opt: torch.optim.Optimizer, model: nn.Module, width: int) -> list[dict]:
    names = {id(q): n for n, q in model.named_parameters()}
    rows = []
    for g in opt.param_groups:
        rate = float(g.get("lr", 0.0)) * float(g.get("weight_decay", 0.0) or 0.0)
        if rate > 0:
            rows += [{"width": width, "step": 0, "layer": names.get(id(q), "?"), "stat": "decay",
                      "value": rate} for q in g["params"]]
    return rows


def _one_width(make_model: Callable[[int], nn.Module], width: int, batch: Any, plan_fn: PlanFn,
               optimizer: str | OptimizerFn, lr: float, weight_decay: float, steps: int,
               seed: int) -> list[dict]:
    from initlab.policy import apply

    with torch.random.fork_rng(devices=[]):
        model = make_model(width)
    if not isinstance(model, nn.Module):
        raise ConfigError(f"make_model({width}) must return an nn.Module; got "
                          f"{type(model).__name__}.")
    p = plan_fn(model, width)
    apply(model, p, seed=seed)
    if isinstance(p.meta.get("mup"), dict):
        mup.attach(model, p)
    opt = _optimizer(optimizer, model, p, lr, weight_decay)
    rows = _decay_rows(opt, model, width)
    names = {m: n for n, m in model.named_modules() if n and not list(m.children())}
    names[model] = OUTPUT
    first: dict[str, torch.Tensor] = {}
    current: dict[str, torch.Tensor] = {}

    def hook(module: nn.Module, args: Any, out: Any) -> None:
        y = _first_tensor(out)
        if y is not None and y.is_floating_point():
            current[names[module]] = y.detach().float()

    w0 = {n: q.detach().clone() for n, q in model.named_parameters() if q.dim() >= 2}
    norms0 = {n: _spectral(w) for n, w in w0.items()}
    handles = [m.register_forward_hook(hook) for m in names]
    try:
        for t in range(steps + 1):
            current.clear()
            out = _call(model, batch)
            if t == 0:
                first = dict(current)
            for layer, y in current.items():
                rows.append({"width": width, "step": t, "layer": layer, "stat": "act",
                             "value": float(y.pow(2).mean().sqrt())})
                if t > 0 and layer in first and first[layer].shape == y.shape:
                    rows.append({"width": width, "step": t, "layer": layer, "stat": "delta",
                                 "value": float((y - first[layer]).pow(2).mean().sqrt())})
            if t == steps:
                break
            opt.zero_grad(set_to_none=True)
            _loss(out, batch).backward()
            opt.step()
            for n, q in model.named_parameters():
                if n in w0 and norms0[n] > _TINY:
                    rows.append({"width": width, "step": t + 1, "layer": n, "stat": "dw",
                                 "value": _spectral(q - w0[n]) / norms0[n]})
    finally:
        for h in handles:
            h.remove()
    return rows


def coord_check(make_model: Callable[[int], nn.Module], widths: Sequence[int], batch: Any,
                parametrization: str | Policy | PlanFn = "mup", optimizer: str | OptimizerFn = "adam", lr: float = 1e-2, steps: int = 3, seed: int = 0, *,
                weight_decay: float = 0.0, base_width: int | None = None,
                config: mup.MuP | None = None, tol: float = 0.25,
                vanish_tol: float = 0.5) -> CoordCheck:
    """Train ``make_model(width)`` a few steps at each width and record the scales.

    Args:
        make_model: builds the model at a width.
        widths: at least two widths, increasing.
        batch: one batch: a tensor, ``(x, y)`` (cross-entropy for integer ``y``, MSE for
            float), or a dict of model inputs (a Hugging Face batch with ``labels``).
        parametrization: ``"mup"``, ``"sp"``, any policy (init only, one global lr), or a
            function ``(model, width) -> Plan`` (a plan from ``initlab.mup.plan`` brings its
            multipliers).
        optimizer: ``"adam"``, ``"adamw"``, ``"sgd"`` or ``(model, plan, lr, wd) -> Optimizer``.
        lr: the base learning rate.
        steps: training steps (records at t = 0..steps).
        seed: the init seed (``initlab.apply``).
        weight_decay: the base weight decay.
        base_width: the μP base width (default: the smallest width).
        config: a :class:`initlab.mup.MuP`.
        tol: the largest healthy slope (growth with width).
        vanish_tol: the largest healthy negative slope of an update (vanishing with width).

    Returns:
        A :class:`CoordCheck`.

    Examples:
        >>> from initlab.scaling.models import mlp
        >>> make = lambda w: mlp(w, d_in=16, d_out=10, depth=2)
        >>> g = torch.Generator().manual_seed(0)
        >>> batch = (torch.randn(32, 16, generator=g), torch.randint(0, 10, (32,), generator=g))
        >>> cc = coord_check(make, [32, 64, 128], batch, "mup", base_width=32,
        ...                  config=mup.MuP(readout_zero=True), lr=1e-2, steps=2)
        >>> cc.healthy, round(cc.slope(), 2)
        (True, -0.06)
        >>> coord_check(make, [32, 64, 128], batch, "sp", lr=1e-2, steps=2).healthy
        False
    """
    widths = [int(w) for w in widths]
    if len(widths) < 2 or sorted(set(widths)) != widths:
        raise ConfigError(f"coord_check needs at least two increasing widths; got {widths}. "
                          "Hint: widths=[64, 128, 256, 512].")
    if not isinstance(steps, int) or steps < 1:
        raise ConfigError(f"coord_check steps must be a positive integer; got {steps!r}.")
    name, plan_fn = _resolve(parametrization, make_model, base_width or widths[0], config)
    records: list[dict[str, Any]] = []
    for w in widths:
        records += _one_width(make_model, w, batch, plan_fn, optimizer, lr, weight_decay,
                              steps, seed)
    return CoordCheck(widths, steps, name, records, tol, vanish_tol)
