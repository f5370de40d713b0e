"""initlab._core: the module-type table, first_tensor / call_model, device and seed checks."""

from __future__ import annotations

import types

import numpy as np
import pytest
import torch
from torch import nn

from initlab._core.calls import call_model, first_tensor
from initlab._core.checks import check_device, check_seed
from initlab._core.torch_types import MODULE_KINDS, NORM_TYPES, is_norm, kind_of
from initlab.errors import ConfigError


def test_norm_table_has_every_torch_norm() -> None:
    norms = [nn.BatchNorm1d(2), nn.BatchNorm2d(2), nn.InstanceNorm1d(2), nn.LayerNorm(2),
             nn.GroupNorm(1, 2), nn.LocalResponseNorm(2), nn.SyncBatchNorm(2)]
    if hasattr(nn, "RMSNorm"):
        norms.append(nn.RMSNorm(2))
    assert all(is_norm(m) and kind_of(m) == "norm" for m in norms)
    assert not any(isinstance(m, NORM_TYPES) for m in (nn.Linear(2, 2), nn.Conv1d(1, 1, 1)))


@pytest.mark.parametrize(("module", "kind"), [
    (nn.Conv1d(1, 1, 1), "conv"), (nn.ConvTranspose2d(1, 1, 1), "conv"),
    (nn.Linear(1, 1), "linear"), (nn.Bilinear(1, 1, 1), "bilinear"),
    (nn.EmbeddingBag(3, 2), "embedding"), (nn.GRU(2, 2), "recurrent"),
    (nn.MultiheadAttention(4, 1), "attention"), (nn.Tanh(), None),
])
def test_kind_of(module: nn.Module, kind: str | None) -> None:
    assert kind_of(module) == kind
    assert kind is None or isinstance(module, MODULE_KINDS[kind])


def test_first_tensor_cases_of_every_former_copy() -> None:
    a, b = torch.zeros(1), torch.ones(1)
    # tensor itself; first element of a tuple (LSUV, coord_check); MHA's (out, weights)
    assert first_tensor(a) is a and first_tensor((a, b)) is a and first_tensor([a, None]) is a
    # depth-first through tuples, lists and dicts (diagnosis hooks)
    assert first_tensor(((None, [b]), a)) is b and first_tensor({"x": None, "y": b}) is b
    # model outputs: .logits first (coord_check), even when .loss comes first in the dict
    out = types.SimpleNamespace(loss=a, logits=b)
    assert first_tensor(out) is b
    assert first_tensor(None) is None and first_tensor(()) is None and first_tensor({}) is None


def test_call_model_spreads_tuples_and_dicts() -> None:
    seen: list[tuple[tuple[object, ...], dict[str, object]]] = []

    def model(*args: object, **kwargs: object) -> str:
        seen.append((args, kwargs))
        return "out"

    assert call_model(model, (1, 2)) == "out"
    call_model(model, [3])
    call_model(model, {"k": 4})
    call_model(model, 5)
    assert seen == [((1, 2), {}), ((3,), {}), ((), {"k": 4}), ((5,), {})]


def test_check_device_and_seed() -> None:
    assert check_device("cpu") == torch.device("cpu") == check_device(torch.device("cpu"))
    with pytest.raises(ConfigError, match="Unknown device 'gpu'"):
        check_device("gpu")
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="CUDA is not available"):
            check_device("cuda:0")
    assert check_seed(0) == 0 and check_seed(np.int64(7)) == 7
    for bad in (True, -1, 1.5, "3", None):
        with pytest.raises(ConfigError, match="seed must be an int >= 0"):
            check_seed(bad)
