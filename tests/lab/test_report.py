"""Reports: summary statistics, JSON shape, CSV, terminal table, self-contained HTML."""

from __future__ import annotations

import base64
import csv
import io
import json
import math
import re
import xml.etree.ElementTree as ET

import pytest

from initlab.lab.report import (
    SUMMARY_FIELDS,
    report_dict,
    summarize,
    table_text,
    to_csv,
    write_reports,
)
from initlab.lab.report.page import render_html
from initlab.lab.sweep import Sweep, run_sweep
from initlab.lab.train import TrainConfig

SVG = "{http://www.w3.org/2000/svg}"


def _run(init, seed, status="done", acc=0.5, loss=1.0, stt=None):
    epochs = [] if acc is None else [{"epoch": 1, "step": 10, "train_loss": loss,
                                      "train_acc": acc, "test_loss": loss, "test_acc": acc}]
    return {"id": f"{init}-{seed}", "init": init, "init_spec": f"{init}()", "seed": seed,
            "status": status, "error": None, "steps": 10, "steps_to_target": stt,
            "diverged_at": 5 if status == "diverged" else None, "wall_time": 2.0,
            "stacked": 1, "attempts": 1, "final": epochs[-1] if epochs else {},
            "epochs": epochs, "config": {"model": "mlp"}, "environment": {}, "plan": None,
            "step_losses": [2.0, 1.5, loss], "grad_norms": [
                {"step": 1, "layer": "fc1", "value": 0.1 * (seed + 1)},
                {"step": 1, "layer": "fc2", "value": 0.2}]}


RUNS = [_run("a", 0, acc=0.6, loss=1.0, stt=100), _run("a", 1, acc=0.8, loss=0.5, stt=300),
        _run("a", 2, status="diverged", acc=0.1, loss=9.0),
        _run("b", 0, acc=0.3, loss=2.0), _run("b", 1, status="failed", acc=None),
        _run("b", 2, status="pending", acc=None)]


def test_summary_statistics():
    a, b = summarize(RUNS)
    assert [a["init"], b["init"]] == ["a", "b"]  # sweep order
    assert a["seeds"] == 2 and a["diverged"] == 1 and a["failed"] == 0
    # the diverged seed is a failure in the headline (accuracy 0), never dropped
    assert a["n"] == 3 and a["test_acc_mean"] == pytest.approx(1.4 / 3)
    sd = math.sqrt(((0.6 - 1.4 / 3) ** 2 + (0.8 - 1.4 / 3) ** 2 + (1.4 / 3) ** 2) / 2)
    assert a["test_acc_std"] == pytest.approx(sd)
    half = 4.30 * sd / math.sqrt(3)  # t(0.975, 2) = 4.30: the CI is wider than [0, 1]
    assert 1.4 / 3 - half < 0 and 1.4 / 3 + half > 1
    assert a["test_acc_ci95"] == [0.0, 1.0]  # clipped to the valid range
    assert a["train_loss_mean"] == pytest.approx(0.75)
    assert a["train_loss_std"] == pytest.approx(math.sqrt(0.125))
    assert a["steps_to_target_mean"] == 200 and a["reached"] == 2
    assert b["seeds"] == 1 and b["test_acc_std"] is None and b["steps_to_target_mean"] is None
    assert (b["failed"], b["pending"], b["diverged"]) == (1, 1, 0)
    assert set(a) == set(SUMMARY_FIELDS)


def test_table_and_csv():
    summary = summarize(RUNS)
    text = table_text(summary, title="t")
    assert "46.67 ± 41.63" in text and "200 (2/2)" in text
    rows = list(csv.DictReader(io.StringIO(to_csv(summary))))
    assert [r["init"] for r in rows] == ["a", "b"] and rows[1]["test_acc_std"] == ""
    assert float(rows[0]["test_acc_mean"]) == pytest.approx(1.4 / 3)
    assert json.loads(rows[0]["test_acc_ci95"])[0] == 0.0


def test_html_is_self_contained_with_decodable_plots():
    page = render_html(summarize(RUNS), RUNS, title="x <y>")
    assert "x &lt;y&gt;" in page
    assert not re.search(r"""(src|href)=["']?(https?:|//)""", page)  # no external resource
    images = re.findall(r'src="data:image/svg\+xml;base64,([^"]+)"', page)
    # loss curves, test accuracy (all; contenders zoomed: b collapsed), train accuracy,
    # test loss, gradient norms
    assert re.findall(r'<img alt="([^"]+)"', page) == [
        "loss", "test_acc", "test_acc_zoom", "train_acc", "test_loss", "grad_norms"]
    for img in images:
        root = ET.fromstring(base64.b64decode(img))  # well-formed XML
        assert root.tag == "{http://www.w3.org/2000/svg}svg"
        assert int(root.get("width")) > 0 and int(root.get("height")) > 0
    loss, acc, _, _, _, grads = (ET.fromstring(base64.b64decode(i)) for i in images)
    # one mean line per init; bands only where an init has two or more finished seeds
    assert len(loss.findall(f"{SVG}polyline")) == 2 and len(loss.findall(f"{SVG}polygon")) == 1
    assert len(acc.findall(f"{SVG}circle")) == 2
    assert {t.text for t in grads.iter(f"{SVG}text")} >= {"fc1", "fc2", "a", "b"}
    assert "diverged at step" in page and ">5<" in page


@pytest.fixture(scope="module")
def sweep_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("rep")
    run_sweep(Sweep(inits=["xavier_normal", "zeros"], model="mlp",
                    model_kwargs={"widths": [16]}, dataset="synthetic", seeds=2,
                    n_train=256, n_test=64,
                    train=TrainConfig(epochs=2, grad_norm_steps=3, target_acc=0.5)), out)
    return out


def test_report_json_shape(sweep_dir):
    d = report_dict(sweep_dir)
    assert set(d) == {"summary", "comparisons", "groups", "runs"}
    assert d["comparisons"][0]["init"] == "zeros" and d["groups"][0]["group"] == ""
    keys = {"init", "seeds", "test_acc_mean", "test_acc_std", "train_loss_mean",
            "train_loss_std", "steps_to_target_mean", "diverged"}
    for s in d["summary"]:
        assert keys <= set(s) and s["seeds"] == 2
    assert [s["init"] for s in d["summary"]] == ["xavier_normal", "zeros"]
    assert len(d["runs"]) == 4
    for r in d["runs"]:
        assert {"id", "init", "seed", "status", "final", "epochs", "config"} <= set(r)
        assert len(r["epochs"]) == 2 and r["config"]["model"] == "mlp"
    json.dumps(d, allow_nan=False)  # strictly valid JSON


def test_write_reports(sweep_dir):
    paths = write_reports(sweep_dir)
    page = paths["html"].read_text()
    # loss, test acc, contenders zoomed (zeros collapsed), train acc, test loss, gradients
    assert re.findall(r'<img alt="([^"]+)"', page) == [
        "loss", "test_acc", "test_acc_zoom", "train_acc", "test_loss", "grad_norms"]
    zoom = re.search(r'alt="test_acc_zoom" src="data:image/svg\+xml;base64,([^"]+)"', page)
    assert "collapsed, not shown: zeros" in base64.b64decode(zoom.group(1)).decode()
    assert "xavier_normal" in page and "fc1.weight" in page  # summary and plans
    assert paths["csv"].read_text().splitlines()[0] == ",".join(SUMMARY_FIELDS)
    assert len(paths["runs_csv"].read_text().splitlines()) == 1 + 4 * 2
    assert json.loads(paths["json"].read_text())["summary"][0]["init"] == "xavier_normal"


@pytest.mark.parametrize("width", [60, 80, 120, 200])
def test_table_fits_the_width_and_never_cuts_numbers(width):
    rows = summarize(RUNS)
    for r in rows:
        r["group"] = "model.widths=[512,256] lr=0.01"
        r["init"] = "kaiming_normal(mode='fan_out', nonlinearity='relu')"
    text = table_text(rows, title="t", width=width)
    assert all(len(line) <= width for line in text.splitlines()), text
    flat = re.sub(r"[\s│┃]+", " ", text)
    for number in ("46.67", "± 41.63", "[0.00, 100.00]", "0.7500", "± 0.3536"):
        assert number in flat, (width, text)


def _acc_run(init, seed, accs, config=None):
    epochs = [{"epoch": i + 1, "step": 10 * (i + 1), "train_loss": 1.0, "train_acc": a,
               "test_loss": 1.0, "test_acc": a} for i, a in enumerate(accs)]
    return {**_run(init, seed), "epochs": epochs, "final": epochs[-1],
            "config": config or {"model": "mlp"}}


def test_collapsed_runs_get_their_own_zoomed_panel_and_bars_stay_in_range():
    from initlab.lab.report.figures import collapsed, figures

    runs = [_acc_run("a", s, [0.80, 0.84 + 0.01 * s]) for s in range(3)]
    runs += [_acc_run("b", s, [0.79, 0.83 + 0.01 * s]) for s in range(3)]
    runs += [_acc_run("zeros", s, [0.10, 0.10]) for s in range(3)]
    runs += [_acc_run("wild", s, [0.99, [0.2, 0.99, 0.99][s]]) for s in range(3)]
    groups = {k: [r for r in runs if r["init"] == k] for k in ("a", "b", "zeros", "wild")}
    assert collapsed(groups) == ["zeros"]
    assert collapsed({k: groups[k] for k in ("a", "b")}) == []
    figs = {k: ET.fromstring(base64.b64decode(v)) for k, v in figures(runs).items()}
    assert {"test_acc", "test_acc_zoom", "train_acc", "test_loss"} <= set(figs)
    zoom = figs["test_acc_zoom"]
    texts = [t.text for t in zoom.iter(f"{SVG}text")]
    assert any(t.startswith("collapsed, not shown: zeros (10.0%)") for t in texts)
    # the zoomed axis spans the contenders only: no tick near 10%
    yticks = [float(t.text) for t in zoom.iter(f"{SVG}text") if t.get("text-anchor") == "end"
              and t.text and t.text.replace(".", "").isdigit()]
    assert yticks and min(yticks) > 15
    # error bars never leave [0, 100] (wild: mean 72.7%, std 45 points)
    acc = figs["test_acc"]
    top = min(float(c.get("cy")) for c in acc.iter(f"{SVG}circle"))
    for path in acc.iter(f"{SVG}path"):
        ys = [float(v) for v in re.findall(r"[ML][\d.]+ ([\d.]+)", path.get("d"))]
        assert all(y >= 30 - 1e-6 for y in ys)  # the plot area's top edge is y = 30
    assert top >= 30


def test_a_plot_per_swept_axis_and_a_log_axis_for_lr():
    from initlab.lab.report.figures import axis_figures

    summary = [{"group": f"lr={lr} model.width={w}", "init": i, "test_acc_mean": acc}
               for lr in (0.001, 0.01, 0.1) for w in (64, 128)
               for i, acc in (("x", 0.8), ("k", 0.7))]
    groups = [{"group": f"lr={lr} model.width={w}",
               "config": {"train.lr": lr, "model_kwargs.width": w}}
              for lr in (0.001, 0.01, 0.1) for w in (64, 128)]
    figs = axis_figures(summary, groups)
    assert set(figs) == {"train.lr", "model_kwargs.width"}
    root = ET.fromstring(figs["train.lr"])
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert {"0.001", "0.01", "0.1", "x", "k"} <= set(texts)
    assert len(root.findall(f"{SVG}polyline")) == 2  # one line per init
    xs = sorted({float(c.get("cx")) for c in root.iter(f"{SVG}circle")})
    assert xs[1] - xs[0] == pytest.approx(xs[2] - xs[1], rel=1e-3)  # log spacing


def test_coord_check_panel():
    recs = [{"width": w, "step": t, "layer": name, "stat": "act", "value": v * w ** 0.5}
            for w in (64, 128, 256) for t in (0, 1) for name, v in (("<output>", 1.0),
                                                                     ("fc1", 0.5))]
    cc = {"widths": [64, 128, 256], "steps": 1, "parametrization": "sp", "healthy": False,
          "problems": ["step 0: activation of <output> grows with width (slope +0.50)"],
          "records": recs}
    page = render_html(summarize(RUNS), RUNS, coord_check=cc)
    assert "Coordinate check (sp)" in page and "grows with width" in page
    svg = re.search(r'alt="coord_check" src="data:image/svg\+xml;base64,([^"]+)"', page)
    root = ET.fromstring(base64.b64decode(svg.group(1)))
    texts = {t.text for t in root.iter(f"{SVG}text")}
    assert {"t = 0", "t = 1", "coordinate check: sp (UNHEALTHY)", "fc1", "<output>"} <= texts
    assert len(root.findall(f"{SVG}polyline")) == 4
