"""CompleteP / depth-μP: branch multipliers (L/L0)^-alpha and Adam lr (L/L0)^(alpha-1)."""

from __future__ import annotations

import pytest
import torch

import initlab
from initlab.errors import ConfigError
from initlab.scaling import completep
from initlab.scaling.models import Transformer


def tf(depth):
    return lambda w: Transformer(w, depth=depth, vocab=16, seq=4)


@pytest.mark.parametrize("alpha, branch, lr", [("completep", 0.25, 1.0), ("depth_mup", 0.5, 0.5),
                                               (0.0, 1.0, 0.25)])
def test_branch_multiplier_and_hidden_lr(alpha, branch, lr):
    model = tf(8)(64)
    p = completep.plan(model, base=tf(8), base_width=64, base_depth=2, alpha=alpha)
    mult = p.meta["mup"]["branch_multipliers"]
    assert set(mult) == {f"blocks.{i}.{m}" for i in range(8) for m in ("attn.o_proj", "mlp.2")}
    assert all(v == pytest.approx(branch) for v in mult.values())
    groups = {n: g for g in initlab.mup.param_groups(model, p, 1.0) for n in g["names"]}
    assert groups["blocks.3.mlp.0.weight"]["lr"] == pytest.approx(lr)
    assert groups["head.weight"]["lr"] == pytest.approx(1.0)     # outside the blocks
    assert groups["embed.weight"]["lr"] == pytest.approx(1.0)


def test_attach_scales_each_branch_output():
    model = tf(8)(32)
    p = completep.plan(model, base=tf(8), base_width=32, base_depth=2)
    initlab.apply(model, p, seed=0)
    x = torch.randn(1, 4, 32)
    before = model.blocks[0].mlp(x)
    report = initlab.mup.attach(model, p)
    assert torch.allclose(model.blocks[0].mlp(x), 0.25 * before)
    report.remove()
    assert torch.allclose(model.blocks[0].mlp(x), before)


def test_errors():
    with pytest.raises(ConfigError, match=r"alpha must be a number in \[0, 1\] or one of "
                                          r"\['completep', 'depth_mup'\]; got 'full'"):
        completep.plan(tf(2)(32), alpha="full")
    with pytest.raises(ConfigError, match=r"No residual blocks found in Sequential"):
        completep.plan(torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.Linear(4, 2)))
