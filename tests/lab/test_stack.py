"""Stacked training equals training one by one; divergence; fallback to sequential."""

from __future__ import annotations

import contextlib
import copy
import os
import re
import signal
import subprocess
import sys
import time
import types
from pathlib import Path

import pytest
import torch
from torch import nn

from initlab.errors import ConfigError
from initlab.lab import data, models
from initlab.lab.train import TrainConfig, train, train_stacked
from initlab.lab.train.engines import LayersEngine, choose_engine, stack_problem
from initlab.lab.train.forked import GROUPS_ENV, fork_problem, group_mode
from initlab.lab.train.layers import (
    StackedFlatten,
    StackedLinear,
    build_stacked,
    pool_before_relu,
)
from initlab.lab.train.stacked import cpu_groups

DS = data.synthetic(384, 128, (1, 12, 12), 5, seed=1, noise=2.0)
DS16 = data.synthetic(256, 64, (1, 16, 16), 5, seed=2)  # blitz-cnn needs >= 16x16


def _models(name, k=3, ds=DS, **kw):
    out = []
    for seed in range(k):
        torch.manual_seed(seed)
        out.append(models.build(name, ds.input_shape, ds.num_classes, **kw))
    return out


def _compare(ms, cfg, data_seed=4, ds=DS):
    refs = [copy.deepcopy(m) for m in ms]
    stacked = train_stacked(ms, ds, cfg, data_seed=data_seed, stack="always")
    one_by_one = [train(m, ds, cfg, data_seed=data_seed) for m in refs]
    return stacked, one_by_one, refs


SGD = dict(optimizer="sgd", lr=0.05, momentum=0.9, weight_decay=1e-3)
ADAM = dict(optimizer="adam", lr=2e-3)
ADAMW = dict(optimizer="adamw", lr=2e-3, weight_decay=1e-2)


@pytest.mark.parametrize("name,kw,opt", [
    ("seed-cnn", {}, SGD), ("seed-cnn", {}, ADAM),
    ("mlp", {"widths": (64, 32)}, SGD), ("mlp", {"widths": (64, 32)}, ADAM),
    ("mlp", {"widths": (32,)}, ADAMW), ("blitz-cnn", {}, SGD),
], ids=["seed-cnn-sgd", "seed-cnn-adam", "mlp-sgd", "mlp-adam", "mlp-adamw", "blitz-cnn-sgd"])
def test_stacked_losses_equal_one_by_one(name, kw, opt):
    ds = DS16 if name == "blitz-cnn" else DS
    ms = _models(name, ds=ds, **kw)
    cfg = TrainConfig(batch_size=32, steps=22, grad_norm_steps=2, **opt)
    stacked, ref, ref_models = _compare(ms, cfg, ds=ds)
    assert [r.stacked for r in stacked] == [3, 3, 3]
    for s, r in zip(stacked, ref):
        assert s.status == r.status == "done" and len(s.step_losses) == 22
        assert torch.allclose(torch.tensor(s.step_losses), torch.tensor(r.step_losses),
                              rtol=1e-5, atol=1e-6)
        for es, er in zip(s.epochs, r.epochs):
            assert es["test_acc"] == pytest.approx(er["test_acc"], abs=1e-9)
            assert es["test_loss"] == pytest.approx(er["test_loss"], rel=1e-4)
            assert es["train_acc"] == er["train_acc"]
        assert [g["layer"] for g in s.grad_norms] == [g["layer"] for g in r.grad_norms]
        assert torch.allclose(torch.tensor([g["value"] for g in s.grad_norms]),
                              torch.tensor([g["value"] for g in r.grad_norms]), rtol=1e-4)
    for m, r in zip(ms, ref_models):  # trained values are written back into the models
        for p, q in zip(m.parameters(), r.parameters()):
            assert (p - q).abs().max().item() < 1e-4  # Adam magnifies ulps of tiny grads


def test_a_diverging_member_does_not_stop_the_others():
    ms = _models("mlp", widths=(32,))
    with torch.no_grad():
        ms[1].fc1.weight.mul_(1e20)  # this one overflows after a few steps
    cfg = TrainConfig(lr=0.5, momentum=0.9, batch_size=32, epochs=2, check_every=4)
    stacked, ref, _ = _compare(ms, cfg)
    assert ref[1].status == "diverged", "the reference run must diverge for this test"
    assert stacked[1].status == "diverged" and stacked[1].diverged_at == ref[1].diverged_at
    assert stacked[1].step_losses == pytest.approx(ref[1].step_losses, rel=1e-4)
    for k in (0, 2):
        assert ref[k].status == "done" and stacked[k].status == "done"
        assert len(stacked[k].step_losses) == 24
        assert torch.allclose(torch.tensor(stacked[k].step_losses),
                              torch.tensor(ref[k].step_losses), rtol=1e-5, atol=1e-6)
        assert len(stacked[k].epochs) == 2


class _MixesChannels(nn.Module):
    """A custom forward that averages over channels: wrong on the stacked layout."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.fc = nn.Linear(144, 5)

    def forward(self, x):
        return self.fc(self.conv(x).mean(1).flatten(1))


def _bn_model():
    return nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(),
                         nn.Linear(400, 5))


@pytest.mark.parametrize("make,reason", [
    (lambda s: models.build("mlp", DS.input_shape, 5, widths=(16 + s,)), "differ in architecture"),
    (lambda s: _bn_model(), "stateful or random modules \\['BatchNorm2d'\\]"),
    (lambda s: _MixesChannels(), "layers: probe logits differ"),
])
def test_fallback_to_sequential(make, reason):
    ms = []
    for s in range(2):
        torch.manual_seed(s)
        ms.append(make(s))
    cfg = TrainConfig(batch_size=32, steps=10)
    engine, why = choose_engine(ms, DS, cfg)
    assert engine is None
    assert re.search(reason, why)
    stacked, ref, _ = _compare(ms, cfg)
    assert [r.stacked for r in stacked] == [1, 1]
    for s, r in zip(stacked, ref):
        assert s.step_losses == r.step_losses


def test_engine_choice_and_problems():
    engine, why = choose_engine(_models("seed-cnn", k=2), DS, TrainConfig())
    assert isinstance(engine, LayersEngine) and why == "layers"
    assert stack_problem(_models("mlp", k=1)) == "fewer than two models"
    ms = _models("mlp", k=2)
    ms[0].fc1.weight.requires_grad_(False)
    ms[1].fc1.weight.requires_grad_(False)
    assert stack_problem(ms) == "some parameters are frozen (requires_grad=False)"
    # resnet-nonorm's scalar biases live in a custom forward: not convertible, so sequential
    rs = train_stacked(_models("resnet-nonorm", k=2, blocks=1, width=8), DS,
                       TrainConfig(steps=3), data_seed=0, stack="always")
    assert [r.stacked for r in rs] == [1, 1] and all(r.status == "done" for r in rs)


def test_stack_modes():
    cfg = TrainConfig(steps=3)
    with _threads(2):  # CPU auto: one group per core, so two models train alone, in parallel
        assert [r.stacked for r in train_stacked(_models("mlp", k=2), DS, cfg)] == [1, 1]
    assert [r.stacked for r in train_stacked(_models("mlp", k=2), DS, cfg,
                                             stack="never")] == [1, 1]
    with pytest.raises(ConfigError, match=r"stack=...\) got 'yes'; expected one of \['auto'"):
        train_stacked(_models("mlp", k=2), DS, cfg, stack="yes")


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("name", ["seed-cnn", "resnet-nonorm"])  # layers engine, vmap engine
def test_cuda_auto_stacks_and_matches(name):
    ms = _models(name, k=3, **({"blocks": 2, "width": 16} if name == "resnet-nonorm" else {}))
    cfg = TrainConfig(batch_size=32, steps=22, device="cuda")
    refs = [copy.deepcopy(m) for m in ms]
    stacked = train_stacked(ms, DS, cfg, data_seed=4)
    ref = [train(m, DS, cfg, data_seed=4) for m in refs]
    assert [r.stacked for r in stacked] == [3, 3, 3]
    for s, r in zip(stacked, ref):
        # cuDNN may use TF32 for convs: equal up to its ~1e-3 relative precision
        assert torch.allclose(torch.tensor(s.step_losses), torch.tensor(r.step_losses),
                              rtol=5e-3, atol=1e-4)


class _threads:
    """Temporarily set torch's intra-op thread count (auto's CPU groups follow it)."""

    def __init__(self, n):
        self.n = n

    def __enter__(self):
        self.before = torch.get_num_threads()
        torch.set_num_threads(self.n)

    def __exit__(self, *exc):
        torch.set_num_threads(self.before)


def test_cpu_groups_split_evenly():
    assert cpu_groups(4, 2) == [2, 2] and cpu_groups(3, 2) == [2, 1]
    assert cpu_groups(2, 8) == [1, 1] and cpu_groups(5, 1) == [5]


@pytest.fixture(params=["processes", "threads"])
def groups_mode(request, monkeypatch):
    """Run a test with the CPU groups in forked processes (Linux) and in threads."""
    if request.param == "processes" and fork_problem("cpu") is not None:
        pytest.skip(fork_problem("cpu"))
    monkeypatch.setenv(GROUPS_ENV, request.param)
    return request.param


def test_cpu_auto_trains_groups_in_parallel_like_one_by_one(groups_mode):
    ms = _models("seed-cnn", k=5)
    cfg = TrainConfig(batch_size=32, steps=15, grad_norm_steps=2, **SGD)
    refs = [copy.deepcopy(m) for m in ms]
    calls = []
    with _threads(2):
        got = train_stacked(ms, DS, cfg, data_seed=3, progress=lambda *a: calls.append(a))
        assert torch.get_num_threads() == 2  # restored after the groups' single threads
    ref = [train(m, DS, cfg, data_seed=3) for m in refs]
    assert [r.stacked for r in got] == [3, 3, 3, 2, 2]
    for s, r in zip(got, ref):
        assert torch.allclose(torch.tensor(s.step_losses), torch.tensor(r.step_losses),
                              rtol=1e-5, atol=1e-6)
        assert s.final["test_acc"] == pytest.approx(r.final["test_acc"], abs=1e-9)
        assert len(s.grad_norms) == len(r.grad_norms) > 0
    assert calls and {c[1] for c in calls} <= set(range(1, 16))  # group 0 reports progress
    for m, r in zip(ms, refs):   # the second group's models too: trained in place
        for p, q in zip(m.parameters(), r.parameters()):
            assert (p - q).abs().max().item() < 1e-5


class _FailsInTraining(nn.Module):
    def __init__(self, fail):
        super().__init__()
        self.fc, self.fail = nn.Linear(144, 5), fail

    def forward(self, x):
        if self.fail and self.training:
            raise RuntimeError("boom in a worker")
        return self.fc(x.flatten(1))


def test_an_error_in_a_worker_group_reaches_the_caller(groups_mode):
    ms = [_FailsInTraining(fail=k == 2) for k in range(3)]  # group 1 (not the caller's) fails
    with _threads(2):
        with pytest.raises(RuntimeError, match="boom in a worker"):
            train_stacked(ms, DS, TrainConfig(batch_size=32, steps=40, check_every=2))
        assert torch.get_num_threads() == 2


def test_every_engine_is_built_before_any_group_trains(groups_mode, monkeypatch):
    """Building a stacked engine traces the model with torch.fx, which patches
    nn.Module.__call__ while it runs: no group may be training meanwhile."""
    import initlab.lab.train.stacked as stack_module

    events = []
    real_choose, real_loop = stack_module.choose_engine, stack_module.run_loop

    def choose(*a, **k):
        events.append("build")
        return real_choose(*a, **k)

    def loop(*a, **k):
        events.append("train")
        return real_loop(*a, **k)

    monkeypatch.setattr(stack_module, "choose_engine", choose)
    monkeypatch.setattr(stack_module, "run_loop", loop)
    with _threads(2):
        got = train_stacked(_models("seed-cnn", k=4), DS, TrainConfig(batch_size=32, steps=3))
    assert [r.stacked for r in got] == [2, 2, 2, 2]
    # in this process: both builds, then group 0's training (the other group's training
    # is in a thread, or in a forked child whose events stay there)
    assert events[:2] == ["build", "build"] and "build" not in events[2:]


class _Unpicklable(Exception):
    def __init__(self, handle):
        super().__init__(f"cannot train with {handle}")
        self.handle = handle

    def __reduce__(self):
        raise TypeError("not picklable")


class _RaisesInChild(nn.Module):
    """Fails (in training) only outside the process that built it: in a forked child."""

    def __init__(self, kind):
        super().__init__()
        self.fc, self.kind, self.home = nn.Linear(144, 5), kind, os.getpid()

    def forward(self, x):
        if self.training and os.getpid() != self.home:
            if self.kind == "kill":
                os.kill(os.getpid(), signal.SIGKILL)
            raise _Unpicklable(lambda: None)
        return self.fc(x.flatten(1))


@pytest.mark.parametrize("kind", ["kill", "unpicklable"])
def test_a_forked_group_that_dies_or_fails_oddly_is_reported(kind, monkeypatch):
    if fork_problem("cpu") is not None:
        pytest.skip(fork_problem("cpu"))
    monkeypatch.setenv(GROUPS_ENV, "processes")
    ms = [_RaisesInChild(kind) for _ in range(2)]
    expected = "was killed by signal 9" if kind == "kill" else "_Unpicklable: cannot train"
    with _threads(2):
        with pytest.raises(RuntimeError, match=expected):
            train_stacked(ms, DS, TrainConfig(batch_size=32, steps=400, check_every=2))


def test_a_failed_fork_trains_that_group_in_a_thread(monkeypatch):
    import initlab.lab.train.stacked as stack_module

    def no_fork(*a, **k):
        raise BlockingIOError(11, "Resource temporarily unavailable")

    monkeypatch.setattr(stack_module, "ForkedGroup", no_fork)
    ms = _models("seed-cnn", k=4)
    refs = [copy.deepcopy(m) for m in ms]
    cfg = TrainConfig(batch_size=32, steps=6, **SGD)
    with _threads(2):
        got = train_stacked(ms, DS, cfg, data_seed=1)
    ref = [train(m, DS, cfg, data_seed=1) for m in refs]
    assert [r.stacked for r in got] == [2, 2, 2, 2]
    for s, r in zip(got, ref):
        assert torch.allclose(torch.tensor(s.step_losses), torch.tensor(r.step_losses),
                              rtol=1e-5, atol=1e-6)


def test_groups_mode_is_validated_and_fork_is_refused_where_unsafe(monkeypatch):
    monkeypatch.setenv(GROUPS_ENV, "forks")
    with pytest.raises(ConfigError, match=r"Invalid \$INITLAB_GROUPS: got 'forks'; expected "
                                          r"one of \['auto', 'processes', 'threads'\]"):
        group_mode()
    assert "only CPU" in fork_problem("cuda")
    ray = types.ModuleType("ray")
    ray.is_initialized = lambda: True
    monkeypatch.setitem(sys.modules, "ray", ray)
    assert "Ray is running" in fork_problem("cpu")
    monkeypatch.setenv(GROUPS_ENV, "processes")
    with _threads(2), pytest.raises(ConfigError, match="INITLAB_GROUPS=processes, but Ray"):
        train_stacked(_models("mlp", k=2), DS, TrainConfig(batch_size=32, steps=3))


_ORPHAN_SCRIPT = """
import sys, time, torch
from initlab.lab import data, models
from initlab.lab.train.forked import GROUPS_ENV, fork_problem, group_mode
from initlab.lab.train import TrainConfig, train_stacked
torch.set_num_threads(2)
ds = data.synthetic(4096, 64, (1, 12, 12), 5, seed=1)
ms = [models.build("mlp", ds.input_shape, 5, widths=(64,)) for _ in range(2)]
def progress(epoch, step, loss):
    print("training", flush=True)
    time.sleep(0.05)
train_stacked(ms, ds, TrainConfig(batch_size=8, epochs=1000, check_every=1), progress=progress)
"""


def test_forked_groups_die_with_their_parent(tmp_path):
    if fork_problem("cpu") is not None:
        pytest.skip(fork_problem("cpu"))
    script = tmp_path / "orphan.py"
    script.write_text(_ORPHAN_SCRIPT)
    env = {**os.environ, GROUPS_ENV: "processes"}
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, env=env)
    try:
        assert proc.stdout.readline().strip() == b"training"
        children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
        assert len(children) == 1  # the second group's process
        proc.kill()
        proc.wait()
        deadline = time.monotonic() + 10
        while Path(f"/proc/{children[0]}").exists() and time.monotonic() < deadline:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(int(children[0]), os.WNOHANG)
            time.sleep(0.05)
        stat = Path(f"/proc/{children[0]}/stat")
        # gone, or a zombie waiting for init to reap it
        assert not stat.exists() or stat.read_text().split(")")[1].split()[0] == "Z"
    finally:
        proc.kill()


def _conv_relu_pool():
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Flatten(), nn.Linear(4 * 36, 5))


@pytest.mark.parametrize("weights", ["random", "zeros", "negative"])
def test_pool_before_relu_is_exact_with_gradients(weights):
    torch.manual_seed(0)
    net = _conv_relu_pool()
    with torch.no_grad():
        if weights == "zeros":      # every window ties: the pool must pick the same element
            net[0].weight.zero_()
        elif weights == "negative":  # all-negative windows: no gradient either way
            net[0].bias.fill_(-5.0)
    fast = pool_before_relu(copy.deepcopy(net))
    assert type(fast) is not nn.Sequential
    kinds = [type(fast.get_submodule(n.target)).__name__ if n.op == "call_module"
             else n.target for n in fast.graph.nodes if n.op in ("call_module", "call_function")]
    assert kinds == ["Conv2d", "MaxPool2d", torch.relu_, "Flatten", "Linear"]
    x, y = DS.train_x[:64], DS.train_y[:64]
    outs = []
    for m in (net, fast):
        out = m(x)
        nn.functional.cross_entropy(out, y).backward()
        outs.append((out, [p.grad for p in m.parameters()]))
    assert torch.equal(outs[0][0], outs[1][0])
    for g0, g1 in zip(outs[0][1], outs[1][1]):
        assert torch.equal(g0, g1)


def test_pool_before_relu_leaves_other_graphs_alone():
    net = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.AvgPool2d(2))
    assert pool_before_relu(net) is net                  # not a max-pool
    shared = _MixesChannels()                            # no ReLU at all
    assert pool_before_relu(shared) is shared
    net = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(inplace=True), nn.MaxPool2d(2))
    assert pool_before_relu(net) is net                  # in-place ReLU: kept as written


def test_stacked_seed_cnn_runs_channels_last_with_pool_first_and_flatten_folded():
    ms = _models("seed-cnn", k=2)
    net = build_stacked(ms)
    called = [n.target for n in net.graph.nodes if n.op in ("call_module", "call_function")]
    assert called == ["conv1", "pool", torch.relu_, "fc"]  # ReLU after the pool, in place;
    #                                                        flatten folded into fc
    engine = LayersEngine(ms, TrainConfig(), net)
    x = DS.train_x[:8]
    conv = engine.net.conv1(x)
    assert conv.is_contiguous(memory_format=torch.channels_last) and not conv.is_contiguous()
    h = engine.net.act(engine.net.pool(conv)).detach().requires_grad_()
    out = engine.net.fc(h)
    out.backward(torch.ones_like(out))
    assert h.grad.is_contiguous(memory_format=torch.channels_last)  # no layout conversion
    # the StackedFlatten kept for other flattens hands its gradient back channels-last
    h2 = h.detach().requires_grad_()
    flat = StackedFlatten()(h2)
    assert torch.equal(flat, h.detach().contiguous().flatten(1))
    flat.backward(torch.arange(flat.numel(), dtype=flat.dtype).view_as(flat))
    assert h2.grad.is_contiguous(memory_format=torch.channels_last)
    expected = torch.arange(flat.numel(), dtype=flat.dtype).view_as(flat)
    assert torch.equal(h2.grad.contiguous().flatten(1), expected)


@pytest.mark.parametrize("k,c,out,hw,layout", [
    (2, 16, 10, 14, "nhwc"),    # the fast path (seed-cnn)
    (3, 4, 8, 5, "nhwc"),       # fast path, odd sizes
    (2, 4, 20, 5, "nhwc"),      # out > 2c: also in place
    (2, 16, 10, 14, "nchw"),    # contiguous maps (CUDA default): flattened
    (2, 16, 10, 1, "nhwc"),     # 1x1 maps: flattened
])
def test_stacked_linear_on_maps_equals_flatten_then_linear(k, c, out, hw, layout, monkeypatch):
    import initlab.lab.train.layers as stack_layers

    flattened = []
    real = stack_layers.flatten_keep_layout
    monkeypatch.setattr(stack_layers, "flatten_keep_layout",
                        lambda x: flattened.append(1) or real(x))
    g = torch.Generator().manual_seed(k * 100 + c)
    linears = [nn.Linear(c * hw * hw, out) for _ in range(k)]
    for lin in linears:
        with torch.no_grad():
            lin.weight.normal_(generator=g)
            lin.bias.normal_(generator=g)
    stacked = StackedLinear(linears)
    x = torch.randn(6, k * c, hw, hw, generator=g, dtype=torch.float64)
    stacked.double()
    if layout == "nhwc":
        x = x.contiguous(memory_format=torch.channels_last)
    x.requires_grad_()
    got = stacked(x)
    assert bool(flattened) == (layout == "nchw" or hw == 1)
    got.backward(torch.linspace(-1, 1, got.numel(), dtype=got.dtype).view_as(got))
    for m, lin in enumerate(linears):
        lin.double()
        xm = x.detach()[:, m * c:(m + 1) * c].requires_grad_()
        ref = lin(xm.flatten(1))
        torch.testing.assert_close(got[:, m * out:(m + 1) * out], ref)
        ref.backward(torch.linspace(-1, 1, got.numel(), dtype=got.dtype).view_as(got)
                     [:, m * out:(m + 1) * out])
        torch.testing.assert_close(stacked.weight.grad[m], lin.weight.grad)
        torch.testing.assert_close(stacked.bias.grad[m], lin.bias.grad)
        torch.testing.assert_close(x.grad[:, m * c:(m + 1) * c], xm.grad)

