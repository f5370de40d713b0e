"""spread-vs-random: low-coherence conv1 vs Kaiming normal on seed-cnn (fast variant)."""

from __future__ import annotations

import pytest
import torch

import initlab.reproductions as scenarios
from initlab.lab.stats import describe
from initlab.reproductions.spread_vs_random import KAIMING, SPREAD, conv1_coherence


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("spread")
    return scenarios.get("spread-vs-random").run(
        scenarios.Context(fast=True, out=out, progress=False)), out


def test_fast_variant_numbers_and_verdicts(result):
    res, out = result
    coh, train = res.checks
    assert coh.status == "PASS" and coh.values["n"] == coh.values["held"] == 3, coh.measured
    for spread, kaiming in (v["value"] for v in coh.values["per_seed"].values()):
        assert 1.0 <= spread < kaiming
    diff = res.details["paired_difference"]
    assert len(diff) == 3
    d = describe(diff)
    assert train.values["n"] == 3 and train.values["mean"] == pytest.approx(d.mean)
    assert train.values["ci95"] == pytest.approx(list(d.ci95))
    assert train.values["lower"] == -0.01
    lo, hi = d.ci95
    assert train.status == ("PASS" if lo >= -0.01 else "FAIL" if hi < -0.01 else
                            "INCONCLUSIVE")
    test = res.details["difference_test"]
    assert test["values"]["n"] == 3 and test["values"]["delta"] == pytest.approx(d.mean)
    assert res.details["verdict"] == {"PASS": "spread better", "FAIL": "spread worse"}.get(
        test["status"], "no significant difference")
    assert (out / "report.html").exists() and (out / "result.json").exists()


def test_conv1_coherence_spread_near_welch_random_far():
    spread, kaiming = conv1_coherence(SPREAD, 2), conv1_coherence(KAIMING, 2)
    assert all(1.0 <= c < 1.25 for c in spread), spread
    assert all(c > 2.0 for c in kaiming), kaiming
