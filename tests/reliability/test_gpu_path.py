"""The GPU path: ``device="cuda"`` through materialize, apply, diagnose and compare.

Without CUDA every entry point answers with one clear error before doing any work; with a
CUDA device (tests marked ``cuda``, skipped otherwise) the same calls run on the GPU and
keep their contracts (materialize == apply, bit for bit; a sweep records the GPU).
"""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

import initlab
from initlab.errors import ConfigError

HAS_CUDA = torch.cuda.is_available()
skip_no_cuda = pytest.mark.skipif(not HAS_CUDA, reason="needs a CUDA device")
no_cuda = pytest.mark.skipif(HAS_CUDA, reason="checks the error on a machine without CUDA")
NO_CUDA = r"Device 'cuda(:\d)?' requested but CUDA is not available \(torch .*\); expected"


def _net():
    return nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.Flatten(),
                         nn.Linear(8 * 8 * 8, 10))


def _cli(capsys, *argv):
    code, _, err = _cli_out(capsys, *argv)
    return code, err


def _cli_out(capsys, *argv):
    """(exit code, stdout, stderr stripped) of ``initlab ARGV``."""
    from initlab.cli import main

    try:
        code = main(list(argv))
    except SystemExit as exc:
        code = exc.code
    captured = capsys.readouterr()
    return code or 0, captured.out, captured.err.strip()


# The default-built 3-layer ReLU mlp on a batch of 64 N(0, 1) Fashion-MNIST-sized inputs:
# healthy (no verdict), the same on every device.
DIAGNOSE_MLP = ("diagnose", "--model", "mlp", "--input-shape", "1,28,28", "--spectrum", "off")


@no_cuda
@pytest.mark.parametrize("device", ["cuda", "cuda:0", torch.device("cuda", 1)])
def test_materialize_on_cuda_without_cuda_is_one_clear_error(device):
    with torch.device("meta"):
        model = _net()
    with pytest.raises(ConfigError, match=NO_CUDA):
        initlab.materialize(model, "auto", device=device)
    assert all(p.is_meta for p in model.parameters())   # nothing allocated


@no_cuda
@pytest.mark.parametrize("argv", [
    ["compare", "--model", "mlp", "--dataset", "synthetic", "--policies", "zeros",
     "--device", "cuda", "--quiet"],
    ["reproduce", "seed-cnn", "--fast", "--device", "cuda", "--quiet"],
])
def test_cli_device_cuda_without_cuda_is_one_error_line(capsys, tmp_path, argv):
    code, err = _cli(capsys, *argv, "--out", str(tmp_path / "out"))
    assert code == 2 and "\n" not in err and "Traceback" not in err
    assert err.startswith("Error: Device 'cuda' requested but CUDA is not available")
    assert not (tmp_path / "out" / "initlab.db").exists()


@no_cuda
def test_diagnose_cli_device_cuda_without_cuda_is_one_error_line(capsys):
    code, err = _cli(capsys, "diagnose", "--model", "mlp", "--input-shape", "1,28,28",
                     "--device", "cuda")
    assert code == 2 and "\n" not in err
    assert err.startswith("Error: Device 'cuda' requested but CUDA is not available")


def test_diagnose_cli_device_cpu_is_healthy_and_quiet(capsys):
    code, out, err = _cli_out(capsys, *DIAGNOSE_MLP, "--device", "cpu")
    assert (code, err) == (0, "")
    assert out.rstrip().splitlines()[-1] == "healthy: no verdict fired"
    code, out, err = _cli_out(capsys, *DIAGNOSE_MLP, "--device", "cpu", "--json")
    report = json.loads(out)
    assert (code, err, report["healthy"], report["verdicts"]) == (0, "", True, [])
    assert report["meta"]["input_shape"] == [64, 1, 28, 28]


@pytest.mark.parametrize("device", ["gpu", "cuda:x", "tpu:0"])
def test_unknown_devices_are_rejected(device):
    with torch.device("meta"):
        model = _net()
    with pytest.raises(ConfigError, match=r"Unknown device|requested but"):
        initlab.materialize(model, "auto", device=device)


@pytest.mark.cuda
@skip_no_cuda
def test_cuda_materialize_equals_apply_and_diagnose_runs():
    with torch.device("meta"):
        meta = _net()
    model = initlab.materialize(meta, "auto", seed=3, device="cuda")
    assert all(p.device.type == "cuda" for p in model.parameters())
    ref = _net().cuda()
    initlab.apply(ref, "auto", seed=3)
    for (n, a), (_, b) in zip(model.named_parameters(), ref.named_parameters()):
        assert torch.equal(a, b), n
    x = torch.randn(16, 1, 8, 8, device="cuda")
    report = initlab.diagnose(model, x, torch.randint(0, 10, (16,), device="cuda"))
    assert report.layers


@pytest.mark.cuda
@skip_no_cuda
def test_cuda_too_big_for_the_gpu_fails_before_allocating():
    free, _ = torch.cuda.mem_get_info()
    n = int((free // 4) ** 0.5) + 1024          # a square Linear just over the free memory
    with torch.device("meta"):
        model = nn.Linear(n, n, bias=False)
    with pytest.raises(ConfigError, match=r"need [0-9.]+ GiB on cuda, but only [0-9.]+ GiB"):
        initlab.materialize(model, "auto", device="cuda")
    assert model.weight.is_meta


@pytest.mark.cuda
@skip_no_cuda
def test_cuda_compare_sweep_records_the_gpu(tmp_path):
    from initlab.lab.sweep import Sweep, run_sweep
    from initlab.lab.sweep.store import open_store
    from initlab.lab.train import TrainConfig

    sweep = Sweep(inits=["xavier_normal", "zeros"], model="seed-cnn", dataset="synthetic",
                  n_train=512, n_test=128, seeds=1,
                  train=TrainConfig(epochs=1, device="cuda", grad_norm_steps=2))
    outcome = run_sweep(sweep, tmp_path)
    assert (outcome.done, outcome.failed) == (2, 0)
    with open_store(tmp_path, create=False) as st:
        runs = st.runs()
        assert all(r["environment"]["device"] == "cuda" for r in runs)
        assert all(r["environment"].get("device_name") for r in runs)
        assert all(r["stacked"] == 2 for r in runs)     # stacked on CUDA by default


@pytest.mark.cuda
@skip_no_cuda
def test_cuda_diagnose_cli_matches_cpu(capsys):
    _, cpu_out, _ = _cli_out(capsys, *DIAGNOSE_MLP, "--device", "cpu", "--json")
    code, gpu_out, err = _cli_out(capsys, *DIAGNOSE_MLP, "--device", "cuda", "--json")
    cpu, gpu = json.loads(cpu_out), json.loads(gpu_out)
    assert (code, err, gpu["healthy"], gpu["verdicts"]) == (0, "", True, [])
    for a, b in zip(cpu["layers"], gpu["layers"]):
        assert a["layer"] == b["layer"]
        assert a["std"] == pytest.approx(b["std"], rel=1e-3), a["layer"]
