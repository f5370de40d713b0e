"""The training loop: learning, determinism, common random numbers, metrics, divergence."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from initlab.errors import ConfigError, UnknownNameError
from initlab.lab import data, models
from initlab.lab.train import TrainConfig, train

DS = data.synthetic(512, 256, (1, 8, 8), 4, seed=0, noise=3.0)


def _mlp(seed=0, **kw):
    torch.manual_seed(seed)
    return models.build("mlp", DS.input_shape, DS.num_classes, widths=(32,), **kw)


def test_learns_and_reports_epochs():
    cfg = TrainConfig(lr=0.05, epochs=3, batch_size=32, target_acc=0.8)
    r = train(_mlp(), DS, cfg, data_seed=1)
    assert r.status == "done" and r.steps == 48 and len(r.step_losses) == 48
    assert [e["epoch"] for e in r.epochs] == [1, 2, 3]
    assert [e["step"] for e in r.epochs] == [16, 32, 48]
    for e in r.epochs:  # train_loss is the mean of that epoch's step losses
        chunk = r.step_losses[e["step"] - 16:e["step"]]
        assert e["train_loss"] == pytest.approx(sum(chunk) / 16, rel=1e-9)
    assert r.epochs[-1]["test_acc"] > 0.8 and r.epochs[-1]["train_loss"] < r.epochs[0]["train_loss"]
    first = next(e for e in r.epochs if e["test_acc"] >= 0.8)
    assert r.steps_to_target == first["step"]
    assert r.wall_time > 0 and r.final is r.epochs[-1]


def test_test_metrics_match_a_direct_evaluation():
    model = _mlp()
    r = train(model, DS, TrainConfig(epochs=1, batch_size=64, eval_batch_size=100), data_seed=0)
    with torch.no_grad():
        logits = model(DS.test_x)
    assert r.final["test_loss"] == pytest.approx(F.cross_entropy(logits, DS.test_y).item(),
                                                 rel=1e-5)
    assert r.final["test_acc"] == (logits.argmax(1) == DS.test_y).float().mean().item()


def test_same_seed_same_run_other_seed_other_order():
    a = train(_mlp(), DS, TrainConfig(epochs=1), data_seed=3)
    b = train(_mlp(), DS, TrainConfig(epochs=1), data_seed=3)
    c = train(_mlp(), DS, TrainConfig(epochs=1), data_seed=4)
    assert a.step_losses == b.step_losses and a.epochs == b.epochs
    assert a.step_losses != c.step_losses


class _Recorder(nn.Module):
    """Records the labels-free fingerprint of every training batch it sees."""

    def __init__(self, inner):
        super().__init__()
        self.inner, self.seen = inner, []

    def forward(self, x):
        if self.training:
            self.seen.append(x.sum(dim=(1, 2, 3)).clone())
        return self.inner(x)


def test_common_random_numbers_across_models():
    runs = []
    for name in ("mlp", "seed-cnn"):
        torch.manual_seed(0)
        rec = _Recorder(models.build(name, DS.input_shape, DS.num_classes))
        train(rec, DS, TrainConfig(epochs=2, batch_size=100), data_seed=7)
        runs.append(rec.seen)
    assert len(runs[0]) == 12 and [len(b) for b in runs[0][:6]] == [100] * 5 + [12]
    for x, y in zip(*runs):
        torch.testing.assert_close(x, y, rtol=0, atol=0)
    epoch1 = torch.cat(runs[0][:6]).sort().values
    torch.testing.assert_close(epoch1, DS.train_x.sum(dim=(1, 2, 3)).sort().values)
    assert not torch.equal(torch.cat(runs[0][:6]), torch.cat(runs[0][6:]))  # reshuffled


def test_steps_budget_ends_mid_epoch():
    r = train(_mlp(), DS, TrainConfig(steps=20, batch_size=32), data_seed=0)
    assert r.steps == 20 and len(r.step_losses) == 20
    assert [(e["epoch"], e["step"]) for e in r.epochs] == [(1, 16), (2, 20)]
    r = train(_mlp(), DS, TrainConfig(steps=100, epochs=1, batch_size=32), data_seed=0)
    assert r.steps == 16  # whichever limit comes first


class _NanAfter(nn.Module):
    def __init__(self, inner, good_steps):
        super().__init__()
        self.inner, self.left = inner, good_steps

    def forward(self, x):
        out = self.inner(x)
        if self.training:
            self.left -= 1
            if self.left < 0:
                return out * float("nan")
        return out


def test_divergence_keeps_last_good_metrics():
    r = train(_NanAfter(_mlp(), 20), DS, TrainConfig(epochs=3, batch_size=32, check_every=7),
              data_seed=0)
    assert r.status == "diverged" and r.diverged_at == 21
    assert len(r.step_losses) == 20 and all(torch.isfinite(torch.tensor(r.step_losses)))
    assert [e["epoch"] for e in r.epochs] == [1] and r.steps == 20
    r = train(_mlp(), DS, TrainConfig(lr=1e6, steps=30), data_seed=0)
    assert r.status == "diverged" and r.diverged_at is not None and r.diverged_at <= 30


def test_grad_norms_first_steps():
    model = _mlp()
    ref = copy.deepcopy(model)
    r = train(model, DS, TrainConfig(steps=5, batch_size=32, grad_norm_steps=3), data_seed=2)
    assert sorted({row["step"] for row in r.grad_norms}) == [1, 2, 3]
    assert {row["layer"] for row in r.grad_norms} == {"fc1", "fc2"}
    idx = torch.randperm(len(DS.train_y), generator=torch.Generator().manual_seed(2))[:32]
    F.cross_entropy(ref(DS.train_x[idx]), DS.train_y[idx]).backward()
    expected = torch.cat([ref.fc1.weight.grad.flatten(), ref.fc1.bias.grad]).norm().item()
    got = next(row["value"] for row in r.grad_norms if row["step"] == 1 and row["layer"] == "fc1")
    assert got == pytest.approx(expected, rel=1e-5)


def test_progress_and_optimizers():
    calls = []
    train(_mlp(), DS, TrainConfig(epochs=2, batch_size=32, check_every=5), data_seed=0,
          progress=lambda epoch, step, loss: calls.append((epoch, step, loss)))
    steps = [s for _, s, _ in calls]
    assert steps == sorted(steps) and steps[-1] == 32 and {e for e, _, _ in calls} == {1, 2}
    for opt in ("adam", "adamw", "SGD"):
        r = train(_mlp(), DS, TrainConfig(optimizer=opt, lr=1e-3, epochs=1), data_seed=0)
        assert r.status == "done" and r.final["train_loss"] < 2.0


def test_config_validation_and_round_trip():
    with pytest.raises(UnknownNameError, match=r"Unknown optimizer 'adagrad'. Available: "
                                               r"\['adam', 'adamw', 'sgd'\]"):
        TrainConfig(optimizer="adagrad")
    with pytest.raises(ConfigError, match=r"TrainConfig.lr is invalid: got -1; expected e.g. "
                                          r"lr=0.01"):
        TrainConfig(lr=-1)
    with pytest.raises(ConfigError, match=r"TrainConfig.batch_size is invalid: got 0"):
        TrainConfig(batch_size=0)
    with pytest.raises(ConfigError, match=r"TrainConfig.target_acc is invalid: got 85"):
        TrainConfig(target_acc=85)
    with pytest.raises(ConfigError, match=r"TrainConfig.device is invalid: got 'gpu0'"):
        TrainConfig(device="gpu0")
    cfg = TrainConfig(optimizer="adam", lr=1e-3, epochs=2, target_acc=0.5)
    assert TrainConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ConfigError, match=r"Unknown TrainConfig keys \['lrr'\]"):
        TrainConfig.from_dict({"lrr": 1})


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu_loosely():
    cpu = train(_mlp(), DS, TrainConfig(epochs=1), data_seed=0)
    gpu = train(_mlp(), DS, TrainConfig(epochs=1, device="cuda"), data_seed=0)
    assert gpu.status == "done"
    torch.testing.assert_close(torch.tensor(gpu.step_losses), torch.tensor(cpu.step_losses),
                               rtol=1e-3, atol=1e-4)


class _ViewCNN(nn.Module):
    """``.view`` after a conv: fails on a channels-last tensor, so the loop must fall back."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.fc = nn.Linear(4 * 64, 4)

    def forward(self, x):
        h = torch.relu(self.conv(x))
        return self.fc(h.view(h.size(0), -1))


def test_channels_last_same_results_and_restored():
    runs = []
    for cl in (True, False):
        torch.manual_seed(0)
        net = models.build("seed-cnn", DS.input_shape, DS.num_classes)
        runs.append(train(net, DS, TrainConfig(steps=12, channels_last=cl), data_seed=0))
        assert net.conv1.weight.is_contiguous()  # layout restored after training
    torch.testing.assert_close(torch.tensor(runs[0].step_losses),
                               torch.tensor(runs[1].step_losses), rtol=1e-5, atol=1e-6)
    torch.manual_seed(0)
    view_net = _ViewCNN()
    r = train(view_net, DS, TrainConfig(steps=5, channels_last=True), data_seed=0)
    assert r.status == "done" and view_net.conv.weight.is_contiguous()
