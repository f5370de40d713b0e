"""Fast variants of the scenarios from practice: seed-cnn, seed-mlp, seed-constant.

They train on the first 1024 examples of real Fashion-MNIST when it is installed (else
synthetic data), 3 seeds each. Claims are PASS / FAIL / INCONCLUSIVE over the seeds; only
claims that hold with a wide margin even in the fast variant are asserted; the rest are
checked for what they report (the full runs are in docs/lab.md).
"""

from __future__ import annotations

import json

import pytest

import initlab.reproductions as scenarios
from initlab.lab.data import locate


def _run(name, tmp_path_factory):
    ctx = scenarios.Context(fast=True, out=tmp_path_factory.mktemp(name), progress=False)
    return scenarios.get(name).run(ctx)


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    return {}


def _get(results, name, tmp_path_factory):
    if name not in results:
        results[name] = _run(name, tmp_path_factory)
    return results[name]


def _by_claim(result, prefix):
    hits = [c for c in result.checks if c.claim.startswith(prefix)]
    assert len(hits) == 1, [c.claim for c in result.checks]
    return hits[0]


def _common(result, name, n_inits):
    d = result.details
    assert result.name == name and d["fast"] is True
    assert d["dataset"] == ("fashion-mnist" if locate("fashion-mnist") else "synthetic")
    assert len(d["summary"]) == n_inits and all(s["n"] == 3 for s in d["summary"])
    assert all(c.status in ("PASS", "FAIL", "INCONCLUSIVE") for c in result.checks)
    assert all(c.measured and c.values for c in result.checks)  # numbers as data
    json.dumps(result.to_dict(), allow_nan=False)
    with open(d["report"]) as f:
        assert f.read().count("data:image/svg+xml;base64,") >= 2


def test_seed_cnn_fast(results, tmp_path_factory):
    r = _get(results, "seed-cnn", tmp_path_factory)
    _common(r, "seed-cnn", 5)
    # both readings of "zeros": the tutorial's (weight only, default bias) and bias zeroed
    _by_claim(r, "zeros cannot train, the tutorial's way")
    zeroed = _by_claim(r, "zeros cannot train with conv1's bias zeroed too")
    assert zeroed.status == "PASS", zeroed.measured
    acc = {s["init"]: s["test_acc_mean"] for s in r.details["summary"]}
    assert acc["zeros (weight and bias)"] <= 0.15 < 0.5 < min(
        acc["xavier_normal"], acc["kaiming_normal(fan_out)"])
    assert [g["group"] for g in r.details["groups"]] == ["target=conv1.weight", "target=conv1"]
    params = r.details["parameters"]
    assert params["zeros"]["conv1.weight"] == "zeros()"
    assert params["zeros"]["conv1.bias"] != "zeros()"  # PyTorch's default, as the tutorial
    assert params["zeros (weight and bias)"]["conv1.bias"] == "zeros()"
    _by_claim(r, "Kaiming converges fastest with ReLU")
    small = _by_claim(r, "a too-small N(0, 0.01) starts slower")
    assert small.status == "PASS", small.measured
    assert small.values["n"] == 3 and set(small.values["rivals"]) == {
        "xavier_normal", "kaiming_normal(fan_out)"}
    for rival in small.values["rivals"].values():  # higher epoch-1 loss, Holm p < 0.05
        assert rival["status"] == "PASS" and rival["delta"] > 0 and rival["p_value"] < 0.05
    epochs = r.details["epochs"]
    assert [e["epoch"] for e in epochs] == [1] * 5 and all(e["train_loss"] for e in epochs)


def test_batchnorm_fast(results, tmp_path_factory):
    r = _get(results, "batchnorm", tmp_path_factory)
    _common(r, "batchnorm", 8)
    assert [g["group"] for g in r.details["groups"]] == ["model.batchnorm=false",
                                                          "model.batchnorm=true"]
    _by_claim(r, "BatchNorm shrinks the spread")
    _by_claim(r, "for a small (4-layer) network N(0, 0.01) works well")
    assert set(r.details["test_acc"]) == {"plain", "batchnorm"}


def test_seed_mlp_fast(results, tmp_path_factory):
    r = _get(results, "seed-mlp", tmp_path_factory)
    _common(r, "seed-mlp", 4)
    for prefix in ("zeros cannot train", "N(0, 0.01) learns slowest"):
        c = _by_claim(r, prefix)
        assert c.status == "PASS", c.measured
    _by_claim(r, "Kaiming converges fastest")
    _by_claim(r, "Kaiming ends with the best test accuracy")


def test_seed_constant_fast(results, tmp_path_factory):
    r = _get(results, "seed-constant", tmp_path_factory)
    _common(r, "seed-constant", 2)
    diag = _by_claim(r, "diagnose flags the constant init as broken symmetry")
    assert r.details["parameters"]["constant 0.0042 (all)"]["conv1.weight"].startswith("constant")
    assert diag.status == "PASS", diag.measured
    assert "broken_symmetry" in diag.values["verdicts_constant"]
    assert "broken_symmetry" not in diag.values["verdicts_default"]
    verdicts = r.details["diagnose"]
    assert "broken_symmetry" in {v["name"] for v in verdicts["constant 0.0042 (all)"]}
    gap = _by_claim(r, "a constant init falls far behind")
    assert gap.values["n"] == 3 and gap.values["lower"] == 0.10
    acc = {s["init"]: s["test_acc_mean"] for s in r.details["summary"]}
    assert gap.values["mean"] == pytest.approx(acc["pytorch default"]
                                               - acc["constant 0.0042 (all)"])
