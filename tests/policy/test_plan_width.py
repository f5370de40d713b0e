"""``str(plan)`` fits the terminal (``COLUMNS=80``) and never cuts a number (issue 12 item 8)."""

from __future__ import annotations

import pytest
from rich.cells import cell_len
from torch import nn

from initlab.policy import plan


def _row_numbers(r: object) -> list[str]:
    shape = "x".join(map(str, r.shape)) or "()"  # type: ignore[attr-defined]
    fan = "-" if r.fan_in is None else f"{r.fan_in}/{r.fan_out}"  # type: ignore[attr-defined]
    fmt = [f"{v:.4g}" if isinstance(v, float) else "-" if v is None else str(v)
           for v in (r.gain, r.std)]  # type: ignore[attr-defined]
    return [shape, fan, *fmt]


@pytest.mark.parametrize("columns", ["80", "100"])
def test_str_plan_fits_the_terminal_and_keeps_every_number(monkeypatch, columns):
    monkeypatch.setenv("COLUMNS", columns)
    model = nn.Sequential(nn.Conv2d(3, 64, 3), nn.ReLU(), nn.Flatten(),
                          nn.Linear(64 * 30 * 30, 1000), nn.Linear(1000, 10))
    p = plan(model, "auto")
    text = str(p)
    lines = text.splitlines()
    assert max(cell_len(line) for line in lines) <= int(columns)
    assert "…" not in text
    # each row's numbers whole, on the row's first line (text columns fold below it)
    rows = [[c.strip() for c in line.strip("│").split("│")] for line in lines
            if line.startswith("│")]
    starts = [cells for cells in rows if cells[1]]  # shape: set on a row's first line only
    assert len(starts) == len(p.rows)
    for cells, r in zip(starts, p.rows):
        for number in _row_numbers(r):
            assert number in cells, (r.key, number, cells)
