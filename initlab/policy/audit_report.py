"""The audit's report: one row per tensor, the problems found, a rich table and JSON.

:func:`initlab.policy.audit.audit` builds an :class:`AuditReport`; this module only holds and
renders it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.table import Table

__all__ = ["AuditReport"]


@dataclass
class AuditReport:
    """One row per tensor (tied names together) and the problems found, one line each.

    Attributes:
        rows: one dict per tensor: ``name``, ``kind``, ``tied``, ``shape``, ``dtype``,
            ``device``, ``provenance``, ``init``, ``planned_std``, ``std``, ``problems``.
        problems: every problem found, one line each (empty: :attr:`ok`).

    Examples:
        >>> from torch import nn
        >>> net = nn.Sequential(nn.Linear(4, 8))
        >>> report = AuditReport([], ["'0.weight' holds NaN"])
        >>> report.ok, report.to_dict()["problems"]
        (False, ["'0.weight' holds NaN"])
    """

    rows: list[dict[str, Any]]
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when no problem was found."""
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe: ``{"ok", "problems", "rows"}``."""
        return {"ok": self.ok, "problems": list(self.problems), "rows": [dict(r) for r in self.rows]}

    def table(self) -> Table:
        """A rich Table of the rows."""
        from rich.markup import escape
        from rich.table import Table

        verdict = "ok" if self.ok else f"{len(self.problems)} problem(s)"
        table = Table(title=f"initlab audit: {len(self.rows)} tensors, {verdict}")
        for col in ("tensor", "kind", "shape", "provenance", "init", "planned std", "std", "problems"):
            numeric = col in ("shape", "planned std", "std")  # numbers never wrap; text folds
            table.add_column(col, overflow="fold", no_wrap=numeric,
                             justify="right" if numeric else "left")
        for r in self.rows:
            name = r["name"] + (f" (= {', '.join(r['tied'])})" if r["tied"] else "")
            cells = (name, r["kind"], "x".join(map(str, r["shape"])) or "()", r["provenance"],
                     r["init"] or "-", _fmt(r["planned_std"]), _fmt(r["std"]),
                     "; ".join(r["problems"]) or "-")
            table.add_row(*(escape(c) for c in cells))
        return table

    def __str__(self) -> str:
        from rich.console import Console

        # the terminal's width (rich: $COLUMNS, else the terminal, else 80); text folds
        console = Console(record=True, force_terminal=False)
        with console.capture() as cap:
            console.print(self.table())
            for p in self.problems:
                console.print(f"problem: {p}", markup=False, highlight=False)
        return cap.get()

    def __repr__(self) -> str:
        return f"AuditReport({len(self.rows)} tensors, ok={self.ok}, {len(self.problems)} problem(s))"


def _fmt(v: float | None) -> str:
    return "-" if v is None else f"{v:.4g}"
