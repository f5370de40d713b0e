"""The Plan: one row per parameter (per chunk of a fused one), built from a model and a policy.

A Plan is data: it prints as a rich table, round-trips through JSON (``to_dict`` /
``from_dict``), diffs against another plan, and ``initlab.apply`` executes it.
"""

from __future__ import annotations

import fnmatch
import warnings
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field, fields
from typing import TYPE_CHECKING, Any, TypeVar

import torch
from torch import nn

from initlab._core.calls import call_model
from initlab.errors import ConfigError, did_you_mean
from initlab.init import fans, get
from initlab.policy.act_table import NONE, ActivationInfo
from initlab.policy.activations import detect_activations
from initlab.policy.choosers import spec
from initlab.policy.presets import resolve
from initlab.policy.roles import Target, iter_targets
from initlab.policy.rules import CHOOSERS, Choice, Policy, PolicyLike

if TYPE_CHECKING:
    from rich.table import Table

T = TypeVar("T")

__all__ = ["Plan", "PlanRow", "plan", "build_plan"]


@dataclass
class PlanRow:
    """How one parameter (or one chunk of a fused parameter) is initialized, and why.

    Attributes:
        name: the parameter's fully qualified name (``"0.weight"``).
        shape: the shape this row fills (a chunk's or block's own shape).
        layout: the fan layout (``"linear"``, ``"conv"``, ...) or None (torch's convention).
        init: the initializer spec string (``"keep"``: the model's own values).
        fan_in: the fan in under ``layout`` (None for vectors).
        fan_out: the fan out under ``layout``.
        gain: the gain the choice used, if any.
        std: the std the initializer gives (None when it has none, e.g. constants).
        rule: the label of the rule that matched.
        reason: why, in words (the activation that follows, the scheme, ...).
        chunk: ``(i, n)``: the i-th of n equal row chunks (LSTM gates, fused q/k/v).
        groups: conv groups (for the fans).
        role: the target's role (``"weight"``, ``"bias"``, ``"norm_weight"``, ...).
        view: ``"T"``: stored transposed (HF Conv1D); ``"E"``: experts stored (in, out).
        block: the index of this unit in the viewed tensor (ints and (start, stop) pairs).
        suffix: the stream-key suffix of a block (e.g. ``"[q]"``).

    Examples:
        >>> p = plan(nn.Sequential(nn.Linear(4, 8), nn.ReLU()), "auto")
        >>> row = p["0.weight"]
        >>> row.key, row.shape, row.layout, round(row.std, 4)
        ('0.weight', (8, 4), 'linear', 0.7071)
        >>> PlanRow.from_dict(row.to_dict()) == row
        True
    """

    name: str
    shape: tuple[int, ...]
    layout: str | None
    init: str
    fan_in: int | None
    fan_out: int | None
    gain: float | None
    std: float | None
    rule: str
    reason: str
    chunk: tuple[int, int] | None = None
    groups: int = 1
    role: str = ""
    view: str | None = None        # "T": stored transposed ((in, out), HF Conv1D); "E": experts (in, out)
    block: tuple[Any, ...] | None = None     # index of this unit in the viewed tensor: ints and (start, stop)
    suffix: str | None = None      # stream-key suffix of a block, e.g. "[q]"

    @property
    def key(self) -> str:
        """The row's stream key: the name, plus ``[i]`` for a chunk or the block suffix."""
        if self.suffix is not None:
            return self.name + self.suffix
        return self.name if self.chunk is None else f"{self.name}[{self.chunk[0]}]"

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict (tuples as lists); :meth:`from_dict` reads it back."""
        d = asdict(self)
        d["shape"] = list(self.shape)
        d["chunk"] = list(self.chunk) if self.chunk is not None else None
        d["block"] = None if self.block is None else [
            b if isinstance(b, int) else list(b) for b in self.block]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> PlanRow:
        """A row from :meth:`to_dict`'s output (missing optional fields get defaults)."""
        names = {f.name for f in fields(cls)}
        missing = {"name", "shape", "init"} - set(d)
        if missing:
            raise ConfigError(f"A plan row needs {sorted(missing)}; got keys {sorted(d)}.")
        d = {k: v for k, v in d.items() if k in names}
        d.setdefault("layout", None)
        for k in ("fan_in", "fan_out", "gain", "std"):
            d.setdefault(k, None)
        d.setdefault("rule", "")
        d.setdefault("reason", "")
        d["shape"] = tuple(d["shape"])
        if d.get("chunk") is not None:
            d["chunk"] = tuple(d["chunk"])
        if d.get("block") is not None:
            d["block"] = tuple(b if isinstance(b, int) else tuple(b) for b in d["block"])
        return cls(**d)


def _fmt(v: object) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


@dataclass
class Plan:
    """Rows plus where they came from (policy name, activation tracer, model class).

    A Plan is data: it prints as a table, round-trips through JSON (:meth:`to_dict` /
    :meth:`from_dict`), diffs against another plan, and ``apply`` executes it.

    Attributes:
        rows: one :class:`PlanRow` per parameter (per chunk or block of a fused one).
        meta: where it came from: ``policy``, ``model``, ``activations``, ``seed``, ...

    Examples:
        >>> p = plan(nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 2)), "auto")
        >>> len(p), [row.key for row in p][:2]
        (4, ['0.weight', '0.bias'])
        >>> p["0.weight"].init
        'xavier_uniform(gain=1.6666666666666667)'
        >>> Plan.from_dict(p.to_dict()) == p
        True
    """

    rows: list[PlanRow]
    meta: dict[str, Any] = field(default_factory=dict)

    def __iter__(self) -> Iterator[PlanRow]:
        return iter(self.rows)

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, name: str) -> PlanRow:
        """The row of a parameter name (or chunk key ``name[i]``)."""
        for row in self.rows:
            if row.key == name or (row.name == name and row.chunk is None):
                return row
        hint = did_you_mean(name, [r.key for r in self.rows])
        raise KeyError(f"No plan row '{name}'.{hint}")

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict ``{"version", "meta", "rows"}``; :meth:`from_dict` reads it back."""
        return {"version": 1, "meta": dict(self.meta), "rows": [r.to_dict() for r in self.rows]}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Plan:
        """A Plan from :meth:`to_dict`'s output; ConfigError when it has no ``rows`` list."""
        if not isinstance(d, dict) or not isinstance(d.get("rows"), list):
            raise ConfigError(
                "A plan dict needs a 'rows' list; got "
                f"{sorted(d) if isinstance(d, dict) else type(d).__name__}. Hint: use Plan.to_dict()."
            )
        return cls([PlanRow.from_dict(r) for r in d["rows"]], dict(d.get("meta", {})))

    def diff(self, other: Plan) -> list[dict[str, Any]]:
        """Rows that differ: ``{"key", "field", "self", "other"}``; added/removed rows too."""
        mine, theirs = {r.key: r for r in self.rows}, {r.key: r for r in other.rows}
        out: list[dict[str, Any]] = []
        for key in [*mine, *(k for k in theirs if k not in mine)]:
            a, b = mine.get(key), theirs.get(key)
            if a is None or b is None:
                out.append({"key": key, "field": "row", "self": a and a.init, "other": b and b.init})
                continue
            for f in ("shape", "layout", "init", "fan_in", "fan_out", "gain", "std"):
                va, vb = getattr(a, f), getattr(b, f)
                if va != vb:
                    out.append({"key": key, "field": f, "self": va, "other": vb})
        return out

    def table(self, title: str | None = None) -> Table:
        """The plan as a ``rich`` table (one line per row: parameter, shape, init, ...)."""
        from rich.markup import escape
        from rich.table import Table

        policy = self.meta.get("policy", "?")
        table = Table(title=title or f"initlab plan: policy {policy}, {len(self.rows)} rows",
                      show_lines=False)
        for col in ("parameter", "shape", "init", "fan in/out", "gain", "std", "rule", "reason"):
            table.add_column(col, overflow="fold")
        for r in self.rows:
            fan_text = "-" if r.fan_in is None else f"{r.fan_in}/{r.fan_out}"
            cells = (r.key, "x".join(map(str, r.shape)) or "()", r.init, fan_text, _fmt(r.gain),
                     _fmt(r.std), r.rule, r.reason)
            table.add_row(*(escape(c) for c in cells))
        return table

    def __str__(self) -> str:
        from rich.console import Console

        console = Console(width=160, record=True, file=None, force_terminal=False)
        with console.capture() as cap:
            console.print(self.table())
        return cap.get()

    def __repr__(self) -> str:
        return f"Plan({len(self.rows)} rows, policy={self.meta.get('policy')!r})"


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
                choice = CHOOSERS[rule.init[1:]](target, ctx)
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
