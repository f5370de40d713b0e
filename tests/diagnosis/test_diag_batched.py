"""The fast paths of diagnose give the statistics the straightforward computation gives.

Fused float reductions (dead / zero / saturated counts), one host sync per layer, the
symmetry screen batched over layers of one shape, and the model-state shortcuts are checked
against plain float64 / brute-force references on planted cases.
"""

from __future__ import annotations

import math

import pytest
import torch
from _diag_models import batch
from torch import nn

import initlab
from initlab.diagnosis import symmetry as symmetry_module
from initlab.diagnosis.stats import (
    dead_and_zero,
    dead_zero_finish,
    dead_zero_parts,
    saturated_fraction,
    saturated_part,
)
from initlab.diagnosis.symmetry import (
    SYMMETRY_COSINE,
    duplicate_fraction,
    duplicate_fractions,
    symmetries,
    symmetry,
)


def _g(seed=0):
    return torch.Generator().manual_seed(seed)


def _brute_identical(rows: torch.Tensor) -> torch.Tensor:
    """Per row: another row with cosine > 0.9999, or both zero (every pair, float64)."""
    r = rows.double()
    norm = r.norm(dim=1)
    cos = (r @ r.t()) / (norm[:, None] * norm[None, :]).clamp_min(1e-300)
    zero = norm == 0
    same = (cos > SYMMETRY_COSINE) & (norm[:, None] * norm[None, :] > 0)
    same |= zero[:, None] & zero[None, :]
    same.fill_diagonal_(False)
    return same.any(dim=1)


def _brute_dup(rows: torch.Tensor, skip_zero=False) -> float:
    if skip_zero:
        rows = rows[(rows != 0).any(dim=1)]
        if rows.shape[0] < 2:
            return 0.0
    return _brute_identical(rows).double().mean().item()


def _planted(n, d, seed, copies=()):
    w = torch.randn(n, d, generator=_g(seed))
    for src, dst, scale in copies:
        w[dst] = scale * w[src]
    return w


def test_fused_counts_equal_the_boolean_ones():
    t = torch.randn(32, 12, 5, 5, generator=_g()).relu()
    t[:, 3] = 0  # a dead channel
    t[:, 7, 2, 2] = 0
    for x, last in ((t, False), (t.flatten(1), True), (t.reshape(-1), True)):
        alive, nonzero = torch.stack(dead_zero_parts(x, last)).tolist()
        assert dead_zero_finish(x, last, alive, nonzero) == dead_and_zero(x, last)
    s = torch.tensor([-1.0, -0.98, -0.9799, 0.0, 0.9799, 0.98, 1.0, 0.5])  # bounds exactly
    s = torch.cat([s, torch.rand(1000, generator=_g()) * 2 - 1])
    assert saturated_part(s, -1.0, 1.0).item() / s.numel() == saturated_fraction(s, -1.0, 1.0)
    sig = torch.rand(4096, generator=_g(1))
    assert saturated_part(sig, 0.0, 1.0).item() / sig.numel() == saturated_fraction(sig, 0.0, 1.0)


@pytest.mark.parametrize("direct", [True, False], ids=["all-pairs", "projected"])
def test_batched_duplicate_units_equal_one_by_one_and_brute_force(direct, monkeypatch):
    if not direct:  # the projection + search path taken by many long rows
        monkeypatch.setattr(symmetry_module, "_DIRECT_MACS", 0)
    mats = [_planted(96, 40, s, copies) for s, copies in (
        (0, ()), (1, ((3, 10, 1.0), (3, 11, 2.0))), (2, ()), (3, ((0, 95, 0.5),)), (4, ()))]
    mats[2][5:9] = 0  # zero rows: left out with skip_zero, identical to each other without
    mats.append(_planted(50, 40, 5, ((1, 2, 1.0),)))  # a shape of its own
    mats.append(torch.randn(40, 4, generator=_g(6)))  # rows too short to tell: NaN
    for skip_zero in (False, True):
        got = duplicate_fractions(mats, skip_zero=skip_zero)
        one = [duplicate_fraction(m, skip_zero=skip_zero) for m in mats]
        assert got[:-1] == pytest.approx(one[:-1], abs=0)
        assert math.isnan(got[-1]) and math.isnan(one[-1])
        brute = [_brute_dup(m, skip_zero) for m in mats[:-1]]
        assert got[:-1] == pytest.approx(brute, rel=1e-6, abs=1e-9)
    assert duplicate_fractions(mats)[1] == pytest.approx(3 / 96)
    assert duplicate_fractions(mats)[2] == pytest.approx(4 / 96)


@pytest.mark.parametrize("cols", [12, 300])  # short rows: one search; long: a 4-way screen
def test_batched_symmetry_equals_one_by_one_and_brute_force(cols):
    items = []
    for seed in range(6):
        w = _planted(64, cols, seed, ((1, 2, 1.0), (4, 5, 3.0)) if seed % 3 == 1 else ())
        b = torch.randn(64, generator=_g(100 + seed))
        g = torch.randn(64, cols, generator=_g(200 + seed))
        gb = torch.randn(64, generator=_g(300 + seed))
        if seed % 3 == 1:
            b[2], b[5] = b[1], 3 * b[4]
            g[2], gb[2] = g[1], gb[1]  # rows 1 and 2 stay identical after a step; 4, 5 do not
        items.append((w, b, g, gb, True, True, None))
    items.append((torch.zeros(64, cols), torch.zeros(64), torch.zeros(64, cols),
                  torch.zeros(64), True, True, None))  # a zero layer: every unit stuck
    items.append((items[0][0], items[0][1], None, None, True, False, None))  # no gradient
    got = symmetries(items)
    one = [symmetry(w, b, g, gb) for w, b, g, gb, *_ in items]
    for (d1, s1), (d2, s2) in zip(got, one):
        assert d1 == d2 and (s1 == s2 or (math.isnan(s1) and math.isnan(s2)))
    for (dup, stuck), (w, b, g, gb, *_) in zip(got, items):
        wb = torch.cat([w, b[:, None]], 1)
        assert dup == pytest.approx(_brute_identical(wb).double().mean().item(), rel=1e-6, abs=1e-9)
        if g is not None:
            both = _brute_identical(wb) & _brute_identical(torch.cat([g, gb[:, None]], 1))
            # stuck needs one partner identical in both; planted pairs are the only candidates
            assert stuck == pytest.approx(both.double().mean().item(), rel=1e-6, abs=1e-9)
        else:
            assert math.isnan(stuck)
    assert got[1] == (pytest.approx(4 / 64), pytest.approx(2 / 64))
    assert got[6] == (1.0, 1.0)


class _Wide(nn.Module):
    """Four hidden layers of one shape (batched screen), units copied in two of them."""

    def __init__(self):
        super().__init__()
        self.inp = nn.Linear(20, 48)
        self.hidden = nn.ModuleList(nn.Linear(48, 48) for _ in range(4))
        self.acts = nn.ModuleList(nn.ReLU() for _ in range(5))
        self.out = nn.Linear(48, 5)
        with torch.no_grad():
            for layer in (self.hidden[1], self.hidden[3]):
                layer.weight[7] = layer.weight[3]
                layer.bias[7] = layer.bias[3]
            self.inp.weight[:6] = 0  # dead units (and identical weight rows)
            self.inp.bias[:6] = -1.0

    def forward(self, x):
        x = self.acts[0](self.inp(x))
        for layer, act in zip(self.hidden, self.acts[1:]):
            x = act(layer(x))
        return self.out(x)


def test_diagnose_rows_equal_a_plain_reference():
    torch.manual_seed(0)
    model = _Wide()
    x, y = batch((64, 20), classes=5)
    report = initlab.diagnose(model, x, y, spectrum="off")
    outputs = {}
    hooks = [m.register_forward_hook(lambda m, i, o, n=n: outputs.setdefault(n, o.detach()))
             for n, m in model.named_modules() if not list(m.children())]
    model(x)
    for h in hooks:
        h.remove()
    for row in report.layers:
        out = outputs[row["layer"]].double()
        assert row["mean"] == pytest.approx(out.mean().item(), rel=1e-5, abs=1e-7)
        assert row["std"] == pytest.approx(out.std(unbiased=False).item(), rel=1e-5)
        if row["kind"] == "activation":
            assert row["dead_frac"] == pytest.approx((out == 0).all(dim=0).double().mean().item())
            assert row["zero_frac"] == pytest.approx((out == 0).double().mean().item())
            assert row["dup_units_frac"] == pytest.approx(_brute_dup(out.t(), True), rel=1e-6, abs=1e-9)
    assert report.layer("acts.0")["dead_frac"] == pytest.approx(6 / 48)
    assert report.layer("inp")["weight.dup_rows_frac"] == pytest.approx(6 / 48)
    params = dict(model.named_parameters())
    for p in report.params:
        t = params[p["param"]].detach().double()
        assert p["std"] == pytest.approx(t.std(unbiased=False).item(), rel=1e-5)
        if p["name"] == "weight":
            bias = params[p["param"].replace("weight", "bias")].detach().double()
            rows = torch.cat([t, bias[:, None]], 1)
            assert p["dup_rows_frac"] == pytest.approx(_brute_identical(rows).double().mean()
                                                       .item(), rel=1e-6, abs=1e-9)
    assert report.layer("hidden.1")["weight.dup_rows_frac"] == pytest.approx(2 / 48)
    assert report.layer("hidden.0")["weight.dup_rows_frac"] == 0.0


def test_state_and_global_rng_are_left_as_they_were():
    model = nn.Sequential(nn.Linear(16, 16), nn.Dropout(0.5), nn.RReLU(), nn.Linear(16, 4))
    model.eval()
    model[3].weight.requires_grad_(False)
    x, _ = batch((32, 16))
    rng = torch.get_rng_state()
    first = initlab.diagnose(model, x, spectrum="off", seed=3)
    assert torch.equal(torch.get_rng_state(), rng)
    assert not any(m.training for m in model.modules())
    assert model[3].weight.requires_grad is False and model[0].weight.requires_grad
    again = initlab.diagnose(model, x, spectrum="off", seed=3)  # RReLU draws from the seed
    assert again.layer("2")["std"] == first.layer("2")["std"]


def test_units_are_read_before_a_later_in_place_op():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(16, 32)
            self.act = nn.GELU()  # keeps its input for backward, not its output
            self.out = nn.Linear(32, 4)

        def forward(self, x):
            h = self.act(self.fc(x))
            y = self.out(h * 1.0)
            h.mul_(0).add_(1.0)  # every unit identical, after the activation was recorded
            return y

    x, _ = batch((64, 16))
    torch.manual_seed(0)
    assert initlab.diagnose(Net(), x, spectrum="off").layer("act")["dup_units_frac"] == 0.0


@pytest.mark.parametrize("direct", [True, False], ids=["all-pairs", "projected"])
def test_tiny_and_huge_rows_compare_by_cosine(direct, monkeypatch):
    """Rows scaled by 1e-30 or 1e30 (squares under/overflow in float32) keep their cosines."""
    if not direct:
        monkeypatch.setattr(symmetry_module, "_DIRECT_MACS", 0)
    base = _planted(40, 16, 7, ((0, 1, 1.0), (2, 3, -1.0)))
    for scale in (1e-30, 1e30):
        assert duplicate_fraction(base * scale) == pytest.approx(2 / 40)
    assert duplicate_fraction(base) == pytest.approx(_brute_dup(base))


def test_many_rows_take_the_sorted_window_screen():
    """400+ rows of 300 entries: screened in a sorted window, alone and stacked."""
    ws = [_planted(420, 300, 10 + s, ((5, 400, 1.0),) if s == 1 else ()) for s in range(3)]
    ws.append(torch.randn(450, 300, generator=_g(20)))
    ws[3][100] = -ws[3][7]  # opposite rows are not identical
    items = [(w, None, None, None, True, False, None) for w in ws]
    got = [dup for dup, _ in symmetries(items)]
    assert got == [0.0, pytest.approx(2 / 420), 0.0, 0.0]
    assert got == [pytest.approx(_brute_identical(w).double().mean().item()) for w in ws]
    # 1100 units x 64 samples: past the all-pairs product's size, projected and searched
    acts = [_planted(1100, 64, 30 + s, ((1, 2, 1.0),) if s else ()).relu() for s in range(2)]
    assert duplicate_fractions(acts, skip_zero=True) == [
        pytest.approx(_brute_dup(a, True), rel=1e-6, abs=1e-9) for a in acts]
