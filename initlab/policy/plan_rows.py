"""The Plan data type: one :class:`PlanRow` per parameter (per chunk of a fused one).

A Plan is data: it prints as a rich table, round-trips through JSON (``to_dict`` /
``from_dict``) and diffs against another plan. :func:`initlab.policy.plan.plan` builds one;
``initlab.apply`` executes it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, fields
from typing import TYPE_CHECKING, Any

from initlab.errors import ConfigError, did_you_mean

if TYPE_CHECKING:
    from rich.table import Table

__all__ = ["Plan", "PlanRow"]


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
        >>> from torch import nn
        >>> from initlab.policy.plan import plan
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
        >>> from torch import nn
        >>> from initlab.policy.plan import plan
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
            numbers = col in ("shape", "fan in/out", "gain", "std")  # never wrapped or cut
            table.add_column(col, overflow="fold", no_wrap=numbers,
                             justify="right" if numbers else "left")
        for r in self.rows:
            fan_text = "-" if r.fan_in is None else f"{r.fan_in}/{r.fan_out}"
            cells = (r.key, "x".join(map(str, r.shape)) or "()", r.init, fan_text, _fmt(r.gain),
                     _fmt(r.std), r.rule, r.reason)
            table.add_row(*(escape(c) for c in cells))
        return table

    def __str__(self) -> str:
        from rich.console import Console

        # the terminal's width (rich: $COLUMNS, else the terminal, else 80); text folds
        console = Console(record=True, file=None, force_terminal=False)
        with console.capture() as cap:
            console.print(self.table())
        return cap.get()

    def __repr__(self) -> str:
        return f"Plan({len(self.rows)} rows, policy={self.meta.get('policy')!r})"
