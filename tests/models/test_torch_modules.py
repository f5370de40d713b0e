"""PyTorch's own modules that torch.fx cannot trace, as typed: nn.Transformer and friends."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

import initlab

D, FF = 64, 128


def _models():
    yield "encoder", lambda: nn.TransformerEncoder(
        nn.TransformerEncoderLayer(D, 4, FF, batch_first=True), 2, enable_nested_tensor=False)
    yield "transformer", lambda: nn.Transformer(D, 4, 1, 1, FF, batch_first=True)
    yield "decoder-gelu", lambda: nn.TransformerDecoder(
        nn.TransformerDecoderLayer(D, 4, FF, activation="gelu", batch_first=True), 2)
    yield "mha", lambda: nn.MultiheadAttention(D, 4, batch_first=True)
    yield "lstm-proj", lambda: nn.LSTM(D, 32, proj_size=16, num_layers=2)


MODELS = dict(_models())


@pytest.mark.parametrize("name", sorted(MODELS))
def test_apply_and_materialize_without_an_example_input(name):
    torch.manual_seed(0)
    model = MODELS[name]()
    plan = initlab.apply(model, "auto", seed=1)
    assert {r.name for r in plan} == {n for n, _ in model.named_parameters()}
    with torch.device("meta"):
        meta = MODELS[name]()
    initlab.materialize(meta, "auto", seed=1)
    for (n, a), (_, b) in zip(model.named_parameters(), meta.named_parameters()):
        assert torch.equal(a, b), n


def test_transformer_feed_forward_gets_its_activation():
    plan = initlab.plan(MODELS["encoder"](), "auto")
    lin1 = plan["layers.0.linear1.weight"]
    assert "relu" in lin1.reason and lin1.std == pytest.approx(math.sqrt(2 / D))
    assert "none" in plan["layers.0.linear2.weight"].reason or "no activation" in \
        plan["layers.0.linear2.weight"].reason
    gelu = initlab.plan(MODELS["decoder-gelu"](), "auto")
    assert "gelu" in gelu["layers.0.linear1.weight"].reason
    # the fused in_proj is three matrices, each with its own fans
    q = plan["layers.0.self_attn.in_proj_weight[0]"]
    assert (q.shape, q.fan_in, q.fan_out) == ((D, D), D, D)
