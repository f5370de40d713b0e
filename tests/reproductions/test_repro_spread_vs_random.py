"""spread-vs-random: low-coherence conv1 vs Kaiming normal on seed-cnn (fast variant)."""

from __future__ import annotations

import pytest
import torch

import initlab.reproductions as scenarios
from initlab.reproductions.spread_vs_random import KAIMING, SPREAD, conv1_coherence


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("spread")
    return scenarios.get("spread-vs-random").run(
        scenarios.Context(fast=True, out=out, progress=False)), out


def test_fast_variant_passes_with_numbers(result):
    res, out = result
    assert res.passed, [c.measured for c in res.checks]
    coh, train = res.checks
    assert "coherence / Welch bound: spread 1." in coh.measured
    assert "paired difference" in train.measured and "3 seeds" in train.measured
    assert len(res.details["paired_difference"]) == 3
    assert res.details["verdict"] in ("no significant difference", "spread better",
                                      "spread worse")
    assert (out / "report.html").exists() and (out / "result.json").exists()


def test_conv1_coherence_spread_near_welch_random_far():
    spread, kaiming = conv1_coherence(SPREAD, 2), conv1_coherence(KAIMING, 2)
    assert all(1.0 <= c < 1.25 for c in spread), spread
    assert all(c > 2.0 for c in kaiming), kaiming
