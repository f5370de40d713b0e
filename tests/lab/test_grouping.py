"""Never pool: runs of different configs are separate groups; paired comparisons within."""

from __future__ import annotations

import json

import pytest

from initlab.errors import ConfigError
from initlab.lab.grouping import flatten, group_runs
from initlab.lab.report import compare_rows, report_dict, summarize
from initlab.lab.sweep import Sweep, run_sweep
from initlab.lab.train import TrainConfig


def _run(init, seed, acc, lr=0.01, status="done"):
    final = {"test_acc": acc, "train_loss": 1.0 - acc}
    return {"id": f"{init}-{seed}-{lr}", "init": init, "init_spec": init, "seed": seed,
            "status": status, "error": None, "steps": 10, "steps_to_target": None,
            "diverged_at": None, "wall_time": 1.0, "stacked": 1, "attempts": 1,
            "final": final, "epochs": [final], "environment": {}, "plan": None,
            "config": {"model": "mlp", "init": init, "seed": seed,
                       "train": {"lr": lr, "momentum": 0.9}}}


def test_flatten():
    assert flatten({"a": {"b": 1, "c": {"d": [1, 2]}}, "e": {}}) == \
        {"a.b": 1, "a.c.d": [1, 2], "e": {}}


def test_two_lrs_are_two_groups_with_their_config():
    runs = [_run("x", s, 0.8 + 0.01 * s, lr=0.01) for s in range(3)] + \
           [_run("x", s, 0.2, lr=0.1) for s in range(3)]
    groups = group_runs(runs)
    assert [g.label for g in groups] == ["lr=0.01", "lr=0.1"]
    assert groups[0].config == {"train.lr": 0.01}
    rows = summarize(runs)
    assert [(r["group"], r["n"]) for r in rows] == [("lr=0.01", 3), ("lr=0.1", 3)]
    assert rows[0]["test_acc_mean"] == pytest.approx(0.81) and rows[1]["test_acc_std"] == pytest.approx(0, abs=1e-12)


def test_comparison_against_best_is_paired_and_holm_corrected():
    stats = pytest.importorskip("scipy.stats")
    a = [0.90, 0.88, 0.91, 0.89]
    b = [0.85, 0.84, 0.88, 0.86]
    c = [0.89, 0.88, 0.90, 0.90]
    runs = [_run(k, s, v) for k, vals in (("a", a), ("b", b), ("c", c))
            for s, v in enumerate(vals)]
    comps, groups = compare_rows(runs)
    assert [(r["init"], r["baseline"]) for r in comps] == [("b", "a"), ("c", "a")]
    raw = [stats.ttest_rel(b, a).pvalue, stats.ttest_rel(c, a).pvalue]
    assert [r["p_raw"] for r in comps] == [pytest.approx(p, rel=1e-9) for p in raw]
    lo, hi = sorted(raw)
    holm = [min(1, 2 * lo), max(min(1, 2 * lo), hi)]
    adjusted = holm if raw[0] < raw[1] else holm[::-1]
    assert [r["p_value"] for r in comps] == [pytest.approx(p, rel=1e-9) for p in adjusted]
    assert comps[0]["delta"] == pytest.approx(-0.0375) and comps[0]["significant"]
    assert not comps[1]["significant"]
    assert groups[0]["verdict"].startswith("no significant difference between a and c")


def test_significant_verdict_and_diverged_seed_counts():
    runs = [_run("a", s, 0.9 + 0.001 * s) for s in range(4)] + \
           [_run("b", s, 0.5 + 0.002 * s) for s in range(4)]
    runs[-1]["status"] = "diverged"
    rows = summarize(runs)
    assert rows[1]["n"] == 4 and rows[1]["diverged"] == 1 and rows[1]["seeds"] == 3
    _, groups = compare_rows(runs)
    assert groups[0]["verdict"].startswith("best: a, ahead of b by")
    assert "n = 4" in groups[0]["verdict"]


def test_unknown_baseline_is_one_line_error():
    runs = [_run("a", 0, 0.5), _run("b", 0, 0.4)]
    with pytest.raises(ConfigError, match=r"--baseline 'z' is not an init of this sweep; "
                                          r"expected one of \['a', 'b'\]"):
        compare_rows(runs, baseline="z")


def test_two_sweeps_in_one_folder_are_never_pooled(tmp_path):
    def sweep(lr):
        return Sweep(inits=["xavier_normal", "kaiming_normal"], model="mlp",
                     model_kwargs={"widths": [8]}, dataset="synthetic", seeds=2,
                     n_train=128, n_test=32,
                     train=TrainConfig(epochs=1, lr=lr, grad_norm_steps=0))

    run_sweep(sweep(0.01), tmp_path)
    run_sweep(sweep(0.05), tmp_path)
    d = report_dict(tmp_path)
    assert [(s["group"], s["init"], s["n"]) for s in d["summary"]] == [
        ("lr=0.01", "xavier_normal", 2), ("lr=0.01", "kaiming_normal", 2),
        ("lr=0.05", "xavier_normal", 2), ("lr=0.05", "kaiming_normal", 2)]
    assert [g["config"] for g in d["groups"]] == [{"train.lr": 0.01}, {"train.lr": 0.05}]
    assert all(c["group"] in ("lr=0.01", "lr=0.05") for c in d["comparisons"])
    json.dumps(d, allow_nan=False)


def test_report_plots_keep_experiments_apart_and_plot_the_axis(tmp_path):
    import base64

    from initlab.lab.report import write_reports

    for lr in (0.01, 0.05):
        run_sweep(Sweep(inits=["xavier_normal", "zeros"], model="mlp",
                        model_kwargs={"widths": [8]}, dataset="synthetic", seeds=2,
                        n_train=128, n_test=32,
                        train=TrainConfig(epochs=2, lr=lr, grad_norm_steps=0)), tmp_path)
    page = write_reports(tmp_path)["html"].read_text()
    import re

    images = [base64.b64decode(i).decode() for i in
              re.findall(r'src="data:image/svg\+xml;base64,([^"]+)"', page)]
    alts = re.findall(r'<img alt="([^"]+)"', page)
    assert alts[:2] == ["loss", "test_acc"] and alts[-1] == "axis lr"  # the axis plot last
    assert "lr=0.01: xavier_normal" in images[1] and "lr=0.05: zeros" in images[1]
    assert "Final test accuracy against lr" in images[-1]
    assert ">0.01<" in images[-1] and ">0.05<" in images[-1]  # ticks at the lr values
    assert "Verdict (paired t-tests over seeds, Holm-corrected)" in page


def test_two_axes_give_a_heatmap_per_init():
    from initlab.lab.report.page import heatmap_html

    runs = [dict(_run("x", s, 0.5 + 0.1 * i + 0.01 * j, lr=lr), seed=s)
            for i, lr in enumerate((0.01, 0.1)) for j, m in enumerate((0.0, 0.9))
            for s in range(2)]
    for r, (_i, j) in zip(runs, [(i, j) for i in range(2) for j in range(2) for _ in range(2)]):
        r["config"]["train"]["momentum"] = (0.0, 0.9)[j]
    summary = summarize(runs)
    _, groups = compare_rows(runs, summary)
    page = heatmap_html(summary, groups)
    assert "Mean test accuracy (%) over lr x momentum" in page
    import base64
    import re

    svg = base64.b64decode(re.search(r"base64,([^\"]+)", page).group(1)).decode()  # a chart
    cells = re.findall(r">(\d\d\.\d)</text>", svg)  # the cells (ticks are 0.x)
    assert sorted(cells) == ["50.0", "51.0", "60.0", "61.0"]  # lr x momentum, one per cell
    assert ">momentum</text>" in svg and ">lr</text>" in svg  # the axes
    assert ">0.01</text>" in svg and ">0.9</text>" in svg  # the settings' values as ticks
    assert heatmap_html(summary, []) == "" and heatmap_html(summary, None) == ""
