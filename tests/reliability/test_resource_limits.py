"""Resource limits: ``materialize`` refuses a model that cannot fit, before allocating.

The check sums every meta tensor's bytes and compares them with the memory available on
the target device (``MemAvailable`` on CPU, ``cudaMemGetInfo`` on CUDA); the message
gives both sizes and a hint.
"""

from __future__ import annotations

import importlib

import pytest
import torch
from torch import nn

import initlab
from initlab.errors import ConfigError

mat = importlib.import_module("initlab.policy.materialize")  # the module, not the function


class Allocating(Exception):
    """Raised by a stand-in for the allocation: the check let the model through."""


def _refuse(*args):
    raise Allocating


def _meta(*widths, dtype=torch.float32) -> nn.Module:
    with torch.device("meta"):
        return nn.Sequential(*(nn.Linear(a, b, dtype=dtype) for a, b in zip(widths, widths[1:])))


def _bytes(model) -> int:
    return sum(p.numel() * p.element_size() for p in model.parameters())


def test_a_model_larger_than_memory_fails_before_allocating(monkeypatch):
    model = _meta(1_000_000, 1_000_000)        # 1e12 parameters: 3.6 TiB in float32
    have = mat.available_memory(torch.device("cpu"))
    assert have is not None and have < _bytes(model)
    allocated = []
    monkeypatch.setattr(mat, "_allocate", lambda *a: allocated.append(a))
    with pytest.raises(ConfigError, match=r"^The model's 2 meta tensors need 3\.6 TiB on cpu, "
                                          r"but only [0-9.]+ [KMGT]?i?B is available; expected "
                                          r"them to fit\. Hint: shard the model"):
        initlab.materialize(model, "auto", seed=0)
    assert allocated == []                      # nothing was allocated
    assert all(p.is_meta for p in model.parameters())


@pytest.mark.parametrize("dtype, size", [(torch.float32, "4.0 GiB"), (torch.bfloat16, "2.0 GiB")])
def test_the_limit_is_exact_and_counts_the_dtype(monkeypatch, dtype, size):
    model = _meta(32768, 32768, dtype=dtype)    # 2**30 weights + 32768 bias
    need = _bytes(model)
    monkeypatch.setattr(mat, "available_memory", lambda device: need - 1)
    monkeypatch.setattr(mat, "_allocate", lambda *a: pytest.fail("allocated"))
    with pytest.raises(ConfigError, match=rf"need {size} on cpu, but only {size} is available"):
        initlab.materialize(model, "auto")
    # one byte more and the check passes (allocation itself is skipped here: 4 GiB)
    monkeypatch.setattr(mat, "available_memory", lambda device: need)
    monkeypatch.setattr(mat, "_allocate", _refuse)
    with pytest.raises(Allocating):
        initlab.materialize(model, "auto")


def test_tied_weights_are_counted_once(monkeypatch):
    with torch.device("meta"):
        emb = nn.Embedding(1000, 64)
        head = nn.Linear(64, 1000, bias=False)
    head.weight = emb.weight
    model = nn.Sequential(emb, head)
    need = 1000 * 64 * 4
    monkeypatch.setattr(mat, "available_memory", lambda device: need)
    out = initlab.materialize(model, "auto", seed=1)
    assert out[1].weight is out[0].weight and not out[0].weight.is_meta


def test_check_memory_false_skips_the_check(monkeypatch):
    model = _meta(64, 64)
    monkeypatch.setattr(mat, "available_memory", lambda device: 1)
    with pytest.raises(ConfigError, match=r"need 16\.2 KiB on cpu, but only 1 B is available"):
        initlab.materialize(model, "auto")
    initlab.materialize(model, "auto", check_memory=False)
    assert not any(p.is_meta for p in model.parameters())
