"""Verdicts: rules over the statistics, each with a threshold, the layers it names, a fix.

Every rule is a function registered in :data:`RULES` (name -> rule) that reads the rows and
returns a :class:`Verdict` or None. Thresholds live in :data:`THRESHOLDS`, one place.

The *signal path* the depth ratios are taken over: the outputs of the activation modules
when the model has any, else the outputs of its weighted layers (a linear network; a
model with norms but no activation found is not one, and gets no depth-ratio verdict). Forward ratios use the per-element std (fan-in scaling keeps it flat); backward
ratios use the gradient's norm (fan-in scaling keeps the norm of the back-propagated
gradient flat across width changes, pooling and flattening, its per-element size not).
Embedding lookups are not on the path (their output std is the table's, a parameter
choice); the path is judged in :func:`segments` between norm layers (a transformer's
residual stream legitimately grows with depth). For classifiers and language models the
headline is the loss at init against ln(classes) (``initial_loss``), with the output logit
std in its message.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, TypeGuard

__all__ = ["Verdict", "THRESHOLDS", "RULES", "evaluate", "signal_path", "segments"]

THRESHOLDS: dict[str, float] = {
    "vanishing_forward": 0.25,  # std at the last / first layer of the signal path below this
    "exploding_forward": 4.0,  # ... above this
    "vanishing_gradient": 0.25,  # grad norm at the first / last layer of the path below this
    "exploding_gradient": 4.0,  # ... above this
    # fraction of a layer's units zero for the whole batch above this. Not lower: with zero
    # biases and symmetric weights a deep ReLU net's inputs grow correlated with depth and up
    # to about half its units are off for a whole batch (Kaiming, 30 layers: ~0.4); more
    # than 60% is a bias or scale problem.
    "dead_units": 0.6,
    "saturation": 0.25,  # fraction of a layer's outputs within 1% of the bounds above this
    "broken_symmetry": 0.25,  # fraction of a layer's units identical to another, grads too
    # A depth ratio fires only when the change is also systematic: a per-layer geometric
    # rate below this (above its inverse for exploding), or a change beyond SEVERE_RATIO.
    # Finite width makes a well-initialized net's log-std wander like sqrt(depth / width)
    # (Kaiming, 20 ReLU layers of 64: last/first ~0.25 happens, at ~0.93 per layer).
    "per_layer_rate": 0.9,
    "severe_ratio": 100.0,
    # cross-entropy loss at init above this many times ln(classes): logits far from O(1)
    # (a healthy classifier or LM starts near ln C; GPT-2 with a tied N(0, 1) embedding /
    # LM head, d=64: 32 against ln V = 6.9)
    "initial_loss": 2.0,
}
"""Every verdict's threshold, by rule name (one place; the comments say why each value).

``vanishing_forward`` / ``exploding_forward``: the std at the last / first layer of the signal
path below / above this; ``vanishing_gradient`` / ``exploding_gradient``: the gradient norm at
the first / last layer; ``dead_units``, ``saturation``, ``broken_symmetry``: the fraction of a
layer's units; ``per_layer_rate`` and ``severe_ratio``: a depth ratio fires only when the
change is systematic or severe; ``initial_loss``: the loss at init over ln(classes).
"""


@dataclass(frozen=True)
class Verdict:
    """A problem found at init: which, where, what was measured, and what to do.

    Attributes:
        name: the rule that fired (a key of :data:`RULES`, e.g. ``vanishing_forward``).
        layers: the layers it names (the first and last of a depth ratio, or every layer
            over a fraction threshold).
        message: what was measured against which threshold, one line.
        suggestion: what to do about it (an init to use, a call to make).

    Examples:
        >>> import torch
        >>> from torch import nn
        >>> from initlab.diagnosis import diagnose
        >>> torch.manual_seed(0)  # doctest: +ELLIPSIS
        <torch._C.Generator object at ...>
        >>> model = nn.Sequential(*[m for _ in range(8) for m in (nn.Linear(16, 16), nn.Tanh())])
        >>> for m in model.modules():  # far below xavier's std (0.25): signals shrink
        ...     if isinstance(m, nn.Linear):
        ...         _ = nn.init.normal_(m.weight, std=0.05)
        >>> report = diagnose(model, torch.randn(32, 16), spectrum="off")
        >>> v = report.verdicts[0]
        >>> v.name, v.layers  # the first and the last activation of the path
        ('vanishing_gradient', ('1', '15'))
        >>> sorted(v.to_dict())
        ['layers', 'message', 'name', 'suggestion']
    """

    name: str
    layers: tuple[str, ...]
    message: str
    suggestion: str

    def to_dict(self) -> dict[str, Any]:
        """The verdict as JSON-safe fields (``layers`` a list)."""
        d = asdict(self)
        d["layers"] = list(self.layers)
        return d


@dataclass(frozen=True)
class Context:
    """What the rules read: layer rows, parameter rows, and what is known of the init."""

    layers: list[dict]
    params: list[dict]
    init: str | None = None
    loss_nonfinite: bool = False
    loss_kind: str | None = None  # which loss diagnose used (see diagnosis.losses)
    loss_value: float = math.nan
    num_classes: int | None = None  # the loss is a cross entropy over this many classes
    logit_std: float = math.nan  # std of the output tensor (the logits)

    @property
    def activations(self) -> set[str]:
        return {r["activation"] for r in self.layers if r.get("activation")}


def _finite(v: object) -> TypeGuard[float]:
    return isinstance(v, (int, float)) and math.isfinite(v)


def signal_path(layers: list[dict]) -> list[dict]:
    """The rows the depth ratios are taken over (see the module docstring)."""
    acts = [r for r in layers if r["kind"] == "activation" and "std" in r]
    if acts:
        return acts
    return [r for r in layers if r["kind"] == "weighted" and "std" in r]


def segments(layers: list[dict], path: list[dict]) -> list[list[dict]]:
    """``path`` cut wherever a norm layer runs between two of its rows.

    A norm resets the scale of the signal (a pre-norm residual stream grows with depth by
    design; a norm's backward scales the gradient by 1 / the std of its input), so a depth
    ratio means something only between norms: in a transformer every block is its own
    segment, in a plain MLP or CNN the whole path is one.
    """
    norms = [r["depth"] for r in layers if r["kind"] == "norm"]
    if not norms or not path:
        return [path] if path else []
    out, current = [], [path[0]]
    for prev, row in zip(path, path[1:]):
        i = bisect.bisect_right(norms, prev["depth"])
        if i < len(norms) and norms[i] < row["depth"]:
            out.append(current)
            current = []
        current.append(row)
    out.append(current)
    return out


def _family(ctx: Context) -> str:
    acts = ctx.activations
    if acts & {"relu", "relu6", "hardswish", "leaky_relu", "prelu", "rrelu"}:
        return "relu"
    if acts & {"tanh", "sigmoid", "hardtanh", "softsign", "hardsigmoid"}:
        return "tanh"
    return "other" if acts else "linear"


_SCALE_FIX = {
    "relu": "kaiming (gain sqrt(2), fan_in) for this ReLU network",
    "tanh": "xavier / lecun (or orthogonal) for this tanh/sigmoid network",
    "linear": "lecun or orthogonal (gain 1) for this linear network",
    "other": "a fan-scaled init (kaiming, xavier, lecun)",
}


def _with_init(ctx: Context, text: str) -> str:
    prefix = f"initialized with {ctx.init}: " if ctx.init else ""
    return f"{prefix}{text}; initlab.apply(model, 'auto') picks the gain from the activation"


def _ratio_rule(name: str, stat: str, first_over_last: bool,
                below: bool) -> Callable[[Context], Verdict | None]:
    def judge(ctx: Context, path: list[dict]) -> tuple[float, Verdict] | None:
        if len(path) < 2:
            return None
        first, last = path[0], path[-1]
        num, den = (first, last) if first_over_last else (last, first)
        if den[stat] == 0:
            return None
        ratio = num[stat] / den[stat]
        limit = THRESHOLDS[name]
        if (ratio >= limit) if below else (ratio <= limit):
            return None
        shrink = ratio if below else 1.0 / ratio if ratio > 0 else math.inf  # < 1 here
        rate = shrink ** (1.0 / (len(path) - 1))
        if rate >= THRESHOLDS["per_layer_rate"] and shrink > 1.0 / THRESHOLDS["severe_ratio"]:
            return None
        what = "activation std" if stat == "std" else "gradient norm"
        order = "first/last" if first_over_last else "last/first"
        msg = (f"{what} {order} = {ratio:.3g} ({num['layer']} {num[stat]:.3g} vs "
               f"{den['layer']} {den[stat]:.3g}) over {len(path)} layers, "
               f"{rate if below else 1 / rate:.3g} per layer; threshold "
               f"{'<' if below else '>'} {limit:g}")
        fix = "shrink" if below else "grow"
        sug = _with_init(ctx, f"signals {fix} with depth; use {_SCALE_FIX[_family(ctx)]}")
        return shrink, Verdict(name, (first["layer"], last["layer"]), msg, sug)

    def rule(ctx: Context) -> Verdict | None:
        path = [r for r in signal_path(ctx.layers) if _finite(r.get(stat))]
        if path and path[0]["kind"] != "activation" and any(
                r["kind"] == "norm" for r in ctx.layers):
            return None  # no activation found, yet norms: not a deep linear network
        found = [v for seg in segments(ctx.layers, path) if (v := judge(ctx, seg))]
        return min(found, key=lambda item: item[0])[1] if found else None  # the worst

    return rule


def _fraction_rule(name: str, stat: str, what: str,
                   suggestion: Callable[[Context], str]) -> Callable[[Context], Verdict | None]:
    def rule(ctx: Context) -> Verdict | None:
        limit = THRESHOLDS[name]
        hit = [r for r in ctx.layers if _finite(r.get(stat)) and r[stat] > limit]
        if not hit:
            return None
        worst = max(hit, key=lambda r: r[stat])
        msg = (f"{len(hit)} layer(s) with {what} > {limit:g}; worst {worst['layer']} "
               f"{worst[stat]:.3g}")
        return Verdict(name, tuple(r["layer"] for r in hit), msg, suggestion(ctx))

    return rule


def _dead_fix(ctx: Context) -> str:
    return _with_init(ctx, "units never fire on this batch: zero the biases, use kaiming "
                      "scaling, or a leaky/smooth activation")


def _saturation_fix(ctx: Context) -> str:
    return _with_init(ctx, "pre-activations are too large for tanh/sigmoid: use xavier or "
                      "lecun scaling; if the layer's input is not zero-mean unit-variance "
                      "(e.g. after ReLU and pooling), scale by data with "
                      "initlab.calibrate.lsuv_(model, x)")


def _learns_later(p: dict, first_rows: dict[str, dict], head: str | None) -> bool:
    """An all-zero weight reading diverse inputs (Fixup, zero-residual, a zero-initialized
    classifier / regression / LM head): its units get distinct gradients once the loss or
    the layers after it tell them apart (a head's rows for classes absent from a small
    batch share a gradient). The head, the last weighted layer, also when its input is
    too small a batch to measure (fewer than 8 samples)."""
    if p.get("rms") != 0:
        return False
    dup = first_rows.get(p["module"], {}).get("input_dup_units_frac")
    if p["module"] == head and not _finite(dup):  # a batch too small to tell: a read-out
        return True
    return _finite(dup) and dup < 0.5


def _symmetry(ctx: Context) -> Verdict | None:
    limit = THRESHOLDS["broken_symmetry"]
    first_rows: dict[str, dict] = {}
    for r in ctx.layers:
        first_rows.setdefault(r["module"], r)
    head = next((r["module"] for r in reversed(ctx.layers) if r["kind"] == "weighted"), None)
    hit = [p for p in ctx.params if _finite(p.get("stuck_rows_frac"))
           and p["stuck_rows_frac"] > limit and not _learns_later(p, first_rows, head)]
    if not hit:
        return None
    worst = max(hit, key=lambda p: p["stuck_rows_frac"])
    msg = (f"{len(hit)} layer(s) whose units have identical weights and gradients (cosine > "
           f"0.9999) for > {limit:g} of units; worst {worst['module']} "
           f"{worst['stuck_rows_frac']:.3g}; they cannot learn distinct features")
    sug = _with_init(ctx, "a constant init makes units identical: use a random init")
    return Verdict("broken_symmetry", tuple(p["module"] for p in hit), msg, sug)


def _initial_loss(ctx: Context) -> Verdict | None:
    """A cross entropy at init far above ln C: the logits are too large (overconfident)."""
    if not ctx.num_classes or ctx.num_classes < 2 or not _finite(ctx.loss_value):
        return None
    ln_c = math.log(ctx.num_classes)
    ratio = ctx.loss_value / ln_c
    limit = THRESHOLDS["initial_loss"]
    if ratio <= limit:
        return None
    weighted = [r["layer"] for r in ctx.layers if r["kind"] == "weighted"]
    where = (weighted[-1],) if weighted else ("loss",)
    msg = (f"{ctx.loss_kind or 'cross entropy'} at init {ctx.loss_value:.3g} = {ratio:.3g} x "
           f"ln C ({ln_c:.3g}, C={ctx.num_classes}); output logit std "
           f"{ctx.logit_std:.3g}; threshold > {limit:g} x ln C")
    sug = _with_init(ctx, "the logits are far from O(1) at init: scale the output layer "
                     "down (a tied embedding / LM head: std about 1/sqrt(d) or the model's "
                     "initializer_range, not N(0, 1)), or zero-init the classifier head")
    return Verdict("initial_loss", where, msg, sug)


def _non_finite(ctx: Context) -> Verdict | None:
    first = next((r for r in ctx.layers if r.get("nonfinite")), None)
    where = "forward"
    if first is None and ctx.loss_nonfinite:
        return Verdict("non_finite", ("loss",), "the loss is not finite (forward is)",
                       "check the loss function and targets, or scale the output layer down")
    if first is None:
        # gradients flow from the output back: the first non-finite one is the deepest
        first = next((r for r in reversed(ctx.layers) if r.get("grad_nonfinite")), None)
        where = "backward"
    if first is None:
        return None
    msg = f"first non-finite value in the {where} pass at {first['layer']} (depth {first['depth']})"
    sug = _with_init(ctx, f"values overflow: use {_SCALE_FIX[_family(ctx)]}")
    return Verdict("non_finite", (first["layer"],), msg, sug)


RULES: dict[str, Callable[[Context], Verdict | None]] = {
    "non_finite": _non_finite,
    "initial_loss": _initial_loss,
    "vanishing_forward": _ratio_rule("vanishing_forward", "std", False, True),
    "exploding_forward": _ratio_rule("exploding_forward", "std", False, False),
    "vanishing_gradient": _ratio_rule("vanishing_gradient", "grad_norm", True, True),
    "exploding_gradient": _ratio_rule("exploding_gradient", "grad_norm", True, False),
    "dead_units": _fraction_rule("dead_units", "dead_frac", "dead units", _dead_fix),
    "saturation": _fraction_rule("saturation", "saturated_frac", "saturated outputs",
                                 _saturation_fix),
    "broken_symmetry": _symmetry,
}


def evaluate(ctx: Context) -> list[Verdict]:
    """Every rule that fires, in :data:`RULES` order (``non_finite`` first)."""
    out: list[Verdict] = []
    for name, rule in RULES.items():
        if name != "non_finite" and any(v.name == "non_finite" for v in out):
            break  # statistics of a non-finite network are meaningless
        verdict = rule(ctx)
        if verdict is not None:
            out.append(verdict)
    return out
