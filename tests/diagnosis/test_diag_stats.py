"""The statistics themselves: moments, dead units, symmetry detection."""

from __future__ import annotations

import math

import pytest
import torch
from _diag_models import batch
from torch import nn

import initlab
from initlab.diagnosis.stats import dead_fraction, moments
from initlab.diagnosis.symmetry import duplicate_fraction, symmetry


def _g(seed=0):
    return torch.Generator().manual_seed(seed)


def test_moments_match_float64_and_count_non_finite():
    x = torch.randn(2**16, generator=_g()) * 3 + 1
    mean, std, rms, bad = moments(x)
    d = x.double()
    assert mean == pytest.approx(d.mean().item(), rel=1e-6)
    assert std == pytest.approx(d.std(unbiased=False).item(), rel=1e-6)
    assert rms == pytest.approx(d.square().mean().sqrt().item(), rel=1e-6)
    assert bad == 0
    tiny_spread = 0.5 + 1e-5 * torch.randn(1000, generator=_g())  # cancellation case
    assert moments(tiny_spread)[1] == pytest.approx(tiny_spread.double().std(unbiased=False).item(),
                                                    rel=1e-4)
    assert moments(torch.tensor([1e30, -1e30]))[1] == pytest.approx(1e30, rel=1e-6)  # no overflow
    assert moments(torch.tensor([1.0, math.inf, math.nan]))[3] == 2


def test_dead_fraction_is_per_unit_over_the_batch():
    units = torch.ones(5, 4)
    units[:, 1] = 0
    units[:4, 2] = 0  # zero for 4 of 5 samples: alive
    assert dead_fraction(units) == 0.25


def test_symmetry_finds_identical_rows_and_needs_gradients_too():
    w = torch.randn(300, 40, generator=_g())
    w[10] = w[3]
    w[11] = 2 * w[3]  # same direction: identical by cosine
    w[20] = 0
    w[21] = 0  # two zero rows are identical
    dup, stuck = symmetry(w, None, None, None)
    assert dup == pytest.approx(5 / 300)
    assert math.isnan(stuck)
    g = torch.randn(300, 40, generator=_g(1))
    g[10] = g[3]
    dup, stuck = symmetry(w, None, g, None)
    assert dup == pytest.approx(5 / 300) and stuck == pytest.approx(2 / 300)
    bias = torch.zeros(300)
    bias[10] = 5.0  # a different bias breaks the tie of rows 3 and 10
    assert symmetry(w, bias, None, None)[0] == pytest.approx(4 / 300)


def test_symmetry_on_many_rows_and_constant_rows():
    w = torch.randn(5000, 16, generator=_g())  # more rows than one block of distances
    assert symmetry(w, None, None, None)[0] == 0.0
    assert symmetry(torch.full((5000, 16), 0.0042), None, None, None)[0] == 1.0
    assert math.isnan(symmetry(torch.randn(10, 3, generator=_g()), None, None, None)[0])


def test_duplicate_units_skip_zero_units():
    acts = torch.randn(6, 64, generator=_g()).relu()
    acts[2] = acts[4]
    acts[5] = 0
    acts[1] = 0
    assert duplicate_fraction(acts, skip_zero=True) == pytest.approx(2 / 4)


def test_conv_transpose_and_tuple_outputs_are_diagnosed():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.up = nn.ConvTranspose2d(4, 8, 2, stride=2)
            self.act = nn.ReLU()
            self.rnn = nn.GRU(8, 8, batch_first=True)

        def forward(self, x):
            h = self.act(self.up(x))  # (N, 8, 8, 8)
            out, _ = self.rnn(h.flatten(2).transpose(1, 2))
            return out[:, -1]

    x, _ = batch((16, 4, 4, 4))
    r = initlab.diagnose(Net(), x, spectrum="off")
    assert [row["layer"] for row in r.layers] == ["up", "act", "rnn"]
    assert r.layer("up")["weight.dup_rows_frac"] == 0.0  # units along dim 1 of the weight
    assert r.layer("rnn")["shape"] == "16x64x8"


def test_large_table_duplicates_are_found_by_the_window_candidates():
    # 4096 rows of 256 (an LM head): the 4-direction window screen passes a few random
    # rows by chance; only those are searched, and a true pair is among them
    from initlab.diagnosis.symmetry import symmetry

    g = torch.Generator().manual_seed(0)
    w = torch.randn(4096, 256, generator=g)
    w[100] = w[3000] * 2.0  # same direction
    w[7] = w[4000]
    grad = torch.randn(4096, 256, generator=g)
    grad[100] = grad[3000]
    dup, stuck = symmetry(w, None, grad, None)
    assert dup == pytest.approx(4 / 4096)
    assert stuck == pytest.approx(2 / 4096)
