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


class _WindowAttention(nn.Module):
    """Like torchvision's Swin attention: a buffer only a define_* method computes."""

    def __init__(self, window: int = 3):
        super().__init__()
        self.window = window
        self.qkv = nn.Linear(8, 24)
        self.define_relative_position_bias_table()
        self.define_relative_position_index()

    def define_relative_position_bias_table(self):
        self.relative_position_bias_table = nn.Parameter(torch.zeros((2 * self.window - 1) ** 2, 2))
        nn.init.trunc_normal_(self.relative_position_bias_table, std=0.02)

    def define_relative_position_index(self):
        coords = torch.stack(torch.meshgrid(torch.arange(self.window), torch.arange(self.window),
                                            indexing="ij")).flatten(1)
        rel = (coords[:, :, None] - coords[:, None, :]).permute(1, 2, 0) + self.window - 1
        self.register_buffer("relative_position_index", (rel[..., 0] * (2 * self.window - 1)
                                                         + rel[..., 1]).flatten())

    def forward(self, x):
        return self.qkv(x) + self.relative_position_bias_table[self.relative_position_index].sum()


def test_buffers_only_a_define_method_computes():
    torch.manual_seed(0)
    ref = _WindowAttention()
    with torch.device("meta"):
        meta = _WindowAttention()
    initlab.materialize(meta, "auto", seed=0)
    assert torch.equal(meta.relative_position_index, ref.relative_position_index)
    table = meta.relative_position_bias_table
    assert not table.is_meta and "relative_position_bias_table" in dict(meta.named_parameters())
    # planned like the relative-position table it is (N(0, 0.02) truncated), not garbage
    assert 0.01 < float(table.detach().std()) < 0.03


class _CountingBN(nn.BatchNorm1d):
    """timm's BatchNormAct2d style: its own forward bumps num_batches_tracked."""

    def forward(self, x):
        if self.training:
            self.num_batches_tracked.add_(1)
        return nn.functional.batch_norm(x, self.running_mean, self.running_var, self.weight,
                                        self.bias, False, 0.0, self.eps)


def test_tracing_for_activations_never_writes_the_model():
    model = nn.Sequential(nn.Linear(4, 8), _CountingBN(8), nn.ReLU(), nn.Linear(8, 2))
    before = {n: b.clone() for n, b in model.named_buffers()}
    plan = initlab.plan(model, "auto")
    assert "relu" in plan["0.weight"].reason
    for n, b in model.named_buffers():
        assert torch.equal(b, before[n]), n
