"""materialize: meta models allocated once and filled, equal to apply bit for bit."""

import importlib

import pytest
import torch
from _policy_models import Mixed, ResMLP, TinyGPT, cnn
from torch import nn

import initlab
from initlab.errors import ConfigError

mat_mod = importlib.import_module("initlab.policy.materialize")


def _meta(factory):
    with torch.device("meta"):
        return factory()


@pytest.mark.parametrize("policy", ["auto", "torch_default", "xavier", "orthogonal", "gpt2", "fixup"])
def test_materialize_equals_apply_bit_for_bit(policy):
    factory = {"gpt2": TinyGPT, "fixup": ResMLP}.get(policy, lambda: cnn("relu"))
    ref = factory()
    initlab.apply(ref, policy, seed=11)
    model = initlab.materialize(_meta(factory), policy, seed=11)
    sd, ref_sd = model.state_dict(), ref.state_dict()
    assert list(sd) == list(ref_sd)
    for k in sd:
        if "running" in k or "num_batches" in k:
            continue
        assert torch.equal(sd[k], ref_sd[k]), k
        assert sd[k].device.type == "cpu"


def test_materialize_mixed_model_and_buffers():
    model = initlab.materialize(_meta(Mixed), "auto", seed=0)
    ref = Mixed()
    initlab.apply(ref, "auto", seed=0)
    for (k, v), (_, r) in zip(model.state_dict().items(), ref.state_dict().items()):
        assert torch.equal(v, r), k  # running stats come from reset_running_stats()
    assert torch.equal(model.bn.running_var, torch.ones(6))
    assert model.bn.num_batches_tracked.item() == 0


def test_never_runs_default_init():
    calls = []

    class Counting(nn.Linear):
        def reset_parameters(self):
            calls.append(1)
            super().reset_parameters()

    model = _meta(lambda: nn.Sequential(Counting(4, 4), nn.ReLU(), Counting(4, 2)))
    calls.clear()
    initlab.materialize(model, "auto")
    assert calls == []


def test_tied_weights_stay_tied_and_requires_grad_is_kept():
    class Tied(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb, self.head = nn.Embedding(10, 4), nn.Linear(4, 10, bias=False)
            self.head.weight = self.emb.weight
            self.emb.weight.requires_grad_(False)

        def forward(self, x):
            return self.head(self.emb(x))

    model = initlab.materialize(_meta(Tied), "auto")
    assert model.head.weight is model.emb.weight and not model.emb.weight.requires_grad
    assert isinstance(model.emb.weight, nn.Parameter)


def test_unknown_buffers_are_listed():
    class Rope(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 4)
            self.register_buffer("freqs", torch.arange(4.0))

        def forward(self, x):
            return self.fc(x) * self.freqs

    with pytest.raises(ConfigError, match=r"leave 1 tensor\(s\) uninitialized .*: freqs\. Hint"):
        initlab.materialize(_meta(Rope), "auto")

    class Rope2(Rope):
        def reset_buffers(self):
            self.freqs.copy_(torch.arange(4.0))

    model = initlab.materialize(_meta(Rope2), "auto")
    assert torch.equal(model.freqs, torch.arange(4.0))


def test_parameters_kept_by_policy_are_listed():
    policy = initlab.Policy([initlab.Rule("zeros", role="bias")], on_unmatched="keep")
    with pytest.raises(ConfigError, match=r"leave 2 tensor\(s\) uninitialized .*0\.weight, 2\.weight"):
        initlab.materialize(_meta(lambda: nn.Sequential(nn.Linear(2, 2), nn.ReLU(), nn.Linear(2, 2))),
                            policy)


def test_memory_check(monkeypatch):
    monkeypatch.setattr(mat_mod, "available_memory", lambda device: 1000)
    model = _meta(lambda: nn.Linear(100, 100))
    with pytest.raises(ConfigError, match=r"need 39\.5 KiB on cpu, but only 1000 B is available"):
        initlab.materialize(model, "auto")
    assert model.weight.is_meta  # nothing was allocated


def test_available_memory_reads_meminfo():
    n = mat_mod.available_memory(torch.device("cpu"))
    assert n is None or n > 0


def test_not_a_meta_model():
    with pytest.raises(ConfigError, match=r"no tensors on the meta device.*initlab\.apply"):
        initlab.materialize(nn.Linear(2, 2), "auto")


def test_bad_policy_fails_before_allocation():
    model = _meta(lambda: nn.Linear(2, 2))
    with pytest.raises(initlab.UnknownNameError):
        initlab.materialize(model, "no_such_policy")
    assert model.weight.is_meta


def test_bad_seed_fails_before_allocation():
    model = _meta(lambda: nn.Linear(2, 2))
    with pytest.raises(ConfigError, match=r"seed must be an int >= 0; got -1"):
        initlab.materialize(model, "auto", seed=-1)
    assert model.weight.is_meta
