"""diagnose's terminal tables fit the terminal and never cut a number (issue 12 item 8).

The tables are printed at 80 columns (``COLUMNS=80``, rich's default console) and narrower;
every number of the report's rows must appear whole in the output, on its row: the text
columns (layer names, types) fold, the numeric ones do not, and a table too wide for the
terminal is split into parts that repeat the ``#`` and ``layer`` columns.
"""

from __future__ import annotations

import io
import re
from collections import OrderedDict

import pytest
import torch
from rich.cells import cell_len
from rich.console import Console
from torch import nn

from initlab.diagnosis import compare_reports, diagnose
from initlab.diagnosis.render import _TERMINAL, COLUMNS, _fmt
from initlab.diagnosis.summary import summary

_NUMBER = re.compile(r"^-?\d+(\.\d+)?(e[-+]\d+)?%?$")


def _model() -> nn.Module:
    """Long nested layer names (they must fold) and every terminal column filled."""
    blocks = OrderedDict()
    for i in range(3):
        blocks[f"residual_block_number_{i}_projection"] = nn.Linear(24, 24)
        blocks[f"residual_block_number_{i}_activation"] = nn.Tanh() if i % 2 else nn.ReLU()
    return nn.Sequential(OrderedDict(stem=nn.Linear(12, 24), body=nn.Sequential(blocks),
                                     head=nn.Linear(24, 5)))


@pytest.fixture(scope="module")
def reports():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(32, 12, generator=g)
    y = torch.randint(0, 5, (32,), generator=g)
    torch.manual_seed(0)
    a = diagnose(_model(), x, y, init="kaiming_normal", spectrum="off")
    torch.manual_seed(1)
    b = diagnose(_model(), x, y, init="xavier_normal", spectrum="off")
    return a, b


def _printed(renderable: object, width: int | None = None) -> str:
    console = Console(width=width, file=io.StringIO(), force_terminal=False, color_system=None)
    console.print(renderable)
    text = console.file.getvalue()  # type: ignore[attr-defined]
    assert console.width == (width or 80)
    return text


def _data_rows(text: str) -> dict[str, list[str]]:
    """First cell (``#`` or ``run``) -> every numeric cell printed on that row's first line,
    over all the parts of a split table."""
    out: dict[str, list[str]] = {}
    for line in text.splitlines():
        if not line.startswith("│"):
            continue
        cells = [c.strip() for c in line.strip("│").split("│")]
        if cells[0]:
            out.setdefault(cells[0], []).extend(c for c in cells[1:] if _NUMBER.match(c))
    return out


def _layer_names(text: str) -> list[str]:
    """The second column of every row, its folded lines joined (each part of the table)."""
    names: list[str] = []
    for line in text.splitlines():
        if not line.startswith("│"):
            continue
        cells = [c.strip() for c in line.strip("│").split("│")]
        if cells[0]:
            names.append(cells[1])
        else:
            names[-1] += cells[1]
    return names


def _check_fits(text: str, width: int) -> None:
    assert "…" not in text  # rich's ellipsis: something was cut
    assert max(cell_len(line) for line in text.splitlines()) <= width


@pytest.mark.parametrize("width", [80, 60])
def test_layer_table_fits_and_keeps_every_number(reports, width):
    report = reports[0]
    text = _printed(report, width)
    _check_fits(text, width)
    printed = _data_rows(text)
    numeric = [(k, f) for k, _, f in COLUMNS if k in _TERMINAL and k not in ("layer", "type",
                                                                               "depth")]
    assert len(printed) == len(report.layers)
    for row in report.layers:
        want = sorted(s for k, f in numeric if (s := _fmt(row.get(k), f)))
        assert sorted(printed[str(row["depth"])]) == want, row["layer"]
    # the long layer names fold but are all there, whole, in every part of the table
    names = _layer_names(text)
    layers = [row["layer"] for row in report.layers]
    assert len(names) % len(layers) == 0 and names == layers * (len(names) // len(layers))
    if width == 60:  # too narrow for the names: they fold (and were joined back above)
        assert any(name not in text for name in layers)


def test_layer_table_at_columns_80_from_the_environment(reports, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    text = _printed(reports[0])
    _check_fits(text, 80)
    assert len(_data_rows(text)) == len(reports[0].layers)


def test_a_table_too_wide_is_split_into_parts_repeating_the_keys(reports):
    text = _printed(reports[0], 60)
    assert "(continued)" in text
    headers = [line for line in text.splitlines() if line.startswith("┃") and "layer" in line]
    assert len(headers) >= 2  # every part has the layer column
    wide = _printed(reports[0], 200)
    assert "(continued)" not in wide  # one table when it fits


@pytest.mark.parametrize("width", [80, 60])
def test_compare_table_fits_and_keeps_every_number(reports, width):
    comparison = compare_reports({"kaiming_normal": reports[0], "xavier_normal": reports[1]})
    text = _printed(comparison, width)
    _check_fits(text, width)
    printed = _data_rows(text)
    from initlab.diagnosis.render import _SUMMARY_COLUMNS

    for label, report in comparison.reports.items():
        s = summary(report)
        want = sorted(v for k, _, f in _SUMMARY_COLUMNS
                      if _NUMBER.match(v := _fmt(s.get(k), f)))
        assert sorted(printed[label]) == want, label
