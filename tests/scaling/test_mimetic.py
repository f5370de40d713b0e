"""Mimetic attention init (Trockman & Kolter 2023): W_q^T W_k = alpha Z + beta I, W_o W_v = alpha2 Z - beta2 I."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

from initlab.errors import ConfigError
from initlab.scaling.mimetic import mimetic_
from initlab.scaling.models import Transformer

sys.path.insert(0, str(Path(__file__).parents[1] / "models"))


def test_defaults_are_the_papers_constants():
    """Trockman & Kolter 2023, "Mimetic Initialization of Self-Attention Layers" (ICML 2023,
    arXiv 2305.09828), Sec. 3: W_q W_k^T ~ alpha1 Z1 + beta1 I and W_v W_proj ~ alpha2 Z2 - beta2 I
    (Z_i ~ N(0, I/d)), with alpha1 = beta1 = 0.7 and alpha2 = beta2 = 0.4 for the vision models;
    the abstract: "the product of the query and key weights [...] approximately the identity,
    and the product of the value and projection weights approximately the negative identity".
    The paper publishes no code repository (checked: no official repo in the index), so the
    formula is checked against the paper's text. Paper W (d x k, x @ W) is torch's weight
    transposed: W_q W_k^T = q.weight^T @ k.weight, W_v W_proj = (o.weight @ v.weight)^T."""
    import inspect

    defaults = {k: v.default for k, v in inspect.signature(mimetic_).parameters.items()
                if k in ("alpha", "beta", "alpha2", "beta2")}
    assert defaults == {"alpha": 0.7, "beta": 0.7, "alpha2": 0.4, "beta2": 0.4}


def test_products_have_the_mimetic_structure():
    m = Transformer(64, depth=2, heads=1)
    report = mimetic_(m, seed=0)
    assert report.set == ["blocks.0.attn", "blocks.1.attn"] and not report.skipped
    a = m.blocks[1].attn
    with torch.no_grad():
        qk = (a.q_proj.weight.T @ a.k_proj.weight).double()
        ov = (a.o_proj.weight @ a.v_proj.weight).double()
    eye = torch.eye(64, dtype=torch.float64)
    z1, z2 = (qk - 0.7 * eye) / 0.7, (ov + 0.4 * eye) / 0.4
    for z in (z1, z2):   # what is left is the Gaussian Z with variance 1/d
        assert float(z.std()) == pytest.approx(64 ** -0.5, rel=0.1)
        assert abs(float(torch.diagonal(z).mean())) < 0.05
    assert float(torch.diagonal(qk).mean()) == pytest.approx(0.7, abs=0.05)
    assert float(torch.diagonal(ov).mean()) == pytest.approx(-0.4, abs=0.05)


def test_deterministic_per_seed_and_branch():
    a, b, c = Transformer(32, depth=2), Transformer(32, depth=2), Transformer(32, depth=2)
    mimetic_(a, seed=1), mimetic_(b, seed=1), mimetic_(c, seed=2)
    assert torch.equal(a.blocks[0].attn.q_proj.weight, b.blocks[0].attn.q_proj.weight)
    assert not torch.equal(a.blocks[0].attn.q_proj.weight, c.blocks[0].attn.q_proj.weight)
    assert not torch.equal(a.blocks[0].attn.q_proj.weight, a.blocks[1].attn.q_proj.weight)


def test_grouped_query_attention_is_skipped_and_said():
    import corpus

    report = mimetic_(corpus.build("llama"))
    assert report.set == []
    assert report.skipped["model.layers.0.self_attn"].startswith("q/k/v/o are fused or do not pair")


def test_no_blocks_is_an_error():
    with pytest.raises(ConfigError, match=r"mimetic_ found no transformer blocks in Sequential"):
        mimetic_(torch.nn.Sequential(torch.nn.Linear(4, 4)))
