"""DiagnosisReport: rows, JSON/CSV round trips, pandas, plot, HTML, rich, compare."""

from __future__ import annotations

import base64
import csv
import io
import json
import math
import re
import xml.etree.ElementTree as ET

import pytest
from _diag_models import batch, mlp
from rich.console import Console
from torch import nn

import initlab
from initlab.diagnosis import Comparison, DiagnosisReport, compare_reports, print_report


@pytest.fixture(scope="module")
def reports():
    x, y = batch((64, 32))
    xavier = initlab.diagnose(mlp(12, 64, nn.ReLU, "xavier", d_in=32, d_out=10), x, y)
    kaiming = initlab.diagnose(mlp(12, 64, nn.ReLU, "kaiming", d_in=32, d_out=10), x, y)
    return xavier, kaiming


def test_layers_are_rows_in_execution_order_with_param_stats(reports):
    r = reports[1]
    assert [row["depth"] for row in r.layers] == list(range(23))
    first = r.layers[0]
    assert first["type"] == "Linear" and first["kind"] == "weighted" and first["shape"] == "64x64"
    for key in ("std", "mean", "rms", "grad_norm", "grad_std", "weight.std", "weight.grad_norm",
                "weight.grad_ratio", "weight.dup_rows_frac", "weight.stuck_rows_frac",
                "bias.grad_norm"):
        assert key in first, key
    assert r.layers[1]["activation"] == "relu" and "dead_frac" in r.layers[1]
    assert {p["param"] for p in r.params} == {n for n, _ in mlp(
        12, 64, nn.ReLU, "kaiming", d_in=32, d_out=10).named_parameters()}
    assert r.healthy and r.verdicts == []
    assert not reports[0].healthy


def test_json_round_trip(reports, tmp_path):
    r = reports[0]
    text = r.to_json(tmp_path / "r.json")
    data = json.loads(text)
    assert data["healthy"] is False and data["verdicts"][0]["name"] == "vanishing_forward"
    back = DiagnosisReport.from_json(tmp_path / "r.json")
    assert back.verdicts == r.verdicts
    assert back.layers[3]["std"] == r.layers[3]["std"]
    assert DiagnosisReport.from_json(text).meta == r.meta


def test_csv_is_long_format(reports, tmp_path):
    r = reports[1]
    text = r.to_csv(tmp_path / "r.csv")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert list(rows[0]) == ["layer", "depth", "stat", "value"]
    std0 = [row for row in rows if row["layer"] == "0" and row["stat"] == "std"]
    assert len(std0) == 1 and math.isclose(float(std0[0]["value"]), r.layers[0]["std"])
    assert (tmp_path / "r.csv").read_text() == text


def test_to_pandas_needs_pandas(reports):
    try:
        import pandas  # noqa: F401
    except ImportError:
        with pytest.raises(initlab.ConfigError, match=r"Report.to_pandas needs pandas, which is "
                           r"not installed"):
            reports[0].to_pandas()
    else:
        assert len(reports[0].to_pandas()) == len(reports[0].layers)


def test_plot_and_html(reports, tmp_path):
    fig = reports[0].plot(tmp_path / "p.png")
    assert (tmp_path / "p.png").read_bytes()[:4] == b"\x89PNG"
    # the x axis names every layer with a std, in execution order (not only activations)
    named = [r["layer"] for r in reports[0].layers if r.get("std", 0) > 0]
    assert set(named) <= set(fig.texts) and len(named) > 2
    assert {"output std (log scale)", "gradient norm (log scale)"} <= set(fig.texts)
    reports[0].plot(tmp_path / "p.svg")
    assert ET.parse(tmp_path / "p.svg").getroot().tag == "{http://www.w3.org/2000/svg}svg"
    page = reports[0].to_html(tmp_path / "r.html")
    assert "vanishing_forward" in page and "<table>" in page
    svg = re.search(r"data:image/svg\+xml;base64,([A-Za-z0-9+/=]+)", page).group(1)
    assert ET.fromstring(base64.b64decode(svg)).get("width")
    assert "src='http" not in page and 'src="http' not in page  # self-contained


def test_rich_rendering(reports):
    console = Console(width=160, record=True)
    print_report(reports[0], console)
    out = console.export_text()
    assert "vanishing_forward" in out and "out std" in out
    console = Console(width=160, record=True)
    console.print(reports[1])
    assert "healthy" in console.export_text()


def test_compare_overlays_reports(reports, tmp_path):
    cmp = compare_reports({"xavier": reports[0], "kaiming": reports[1]})
    assert isinstance(cmp, Comparison)
    assert [row["run"] for row in cmp.table] == ["xavier", "kaiming"]
    assert cmp.table[0]["std_last_over_first"] < 0.25 < cmp.table[1]["std_last_over_first"]
    fig = cmp.plot(tmp_path / "c.png")
    assert fig.lines == 4  # two panels, one line per report in each
    assert fig.texts[-2:] == ["xavier", "kaiming"]  # the legend
    page = cmp.to_html(tmp_path / "c.html")
    assert "xavier" in page and "kaiming" in page
    rows = list(csv.DictReader(io.StringIO(cmp.to_csv())))
    assert {row["run"] for row in rows} == {"xavier", "kaiming"}
    console = Console(width=160, record=True)
    console.print(cmp)
    assert "xavier" in console.export_text()


def test_compare_bad_input(reports):
    with pytest.raises(initlab.ConfigError, match=r"compare needs a non-empty dict of label -> "
                       r"Report; got list"):
        compare_reports([reports[0]])
    with pytest.raises(initlab.ConfigError, match=r"compare needs Report values; got str for 'a'"):
        compare_reports({"a": "report.json"})


def test_old_names_warn(reports):
    import initlab.diagnosis as diagnosis

    with pytest.warns(DeprecationWarning, match="use DiagnosisReport"):
        assert diagnosis.Report is DiagnosisReport
    with pytest.warns(DeprecationWarning, match="use initlab.compare_reports"):
        cmp = initlab.diagnose.compare({"a": reports[0]})
    assert isinstance(cmp, Comparison)
