"""mup-lr-transfer (fast): SP's best Adam lr drifts with width, μP's stays within a grid step."""

from __future__ import annotations

import math

import pytest
import torch

import initlab.reproductions as scenarios
from initlab.reproductions.mup_lr_transfer import _best


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("mup")
    return scenarios.get("mup-lr-transfer").run(scenarios.Context(fast=True, out=out)), out


def test_fast_variant_passes_with_numbers(result):
    r, out = result
    assert r.passed, [c.measured for c in r.checks]
    sp, mu, wider = r.checks
    assert "drift" in sp.measured and "spread" in mu.measured
    best = r.details["best_log2_lr"]
    assert best["sp"][32] == best["mup"][32]                 # the same model at the base width
    assert best["sp"][32] - best["sp"][256] >= 2
    assert max(best["mup"].values()) - min(best["mup"].values()) <= 1
    assert (out / "mup_lr_transfer.png").read_bytes()[:4] == b"\x89PNG"


def test_best_is_refined_between_grid_points():
    assert _best({-3: 1.0, -2: 0.5, -1: 1.0}) == -2.0
    assert _best({-3: 1.0, -2: 0.5, -1: 0.75}) == pytest.approx(-1.8333, abs=1e-3)
    assert _best({-3: 0.4, -2: 0.5, -1: 1.0}) == -3.0           # a grid edge
    assert _best({-3: 1.0, -2: 0.5, -1: math.inf}) == -2.0      # a diverged neighbour
