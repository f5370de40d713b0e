"""``initlab diagnose``: exit 0 healthy, 1 a verdict fired, 2 bad input."""

from __future__ import annotations

import json
import os

import pytest

from initlab.cli import main


def _run(args, capsys):
    """The exit status the console script gives: main's return value or its SystemExit."""
    try:
        code = main(["diagnose", *args])
    except SystemExit as exc:
        code = exc.code
    out = capsys.readouterr()
    return code, out.out, out.err


def test_healthy_model_exits_0_and_writes_files(tmp_path, capsys):
    html, js, csv = tmp_path / "r.html", tmp_path / "r.json", tmp_path / "r.csv"
    code = main(["diagnose", "--model", "seed-cnn", "--input-shape", "16,1,28,28",
                 "--html", str(html), "--json", str(js), "--csv", str(csv)])
    out = capsys.readouterr().out
    assert code == 0 and "healthy" in out
    data = json.loads(js.read_text())
    assert data["healthy"] is True and data["meta"]["model"] == "seed-cnn"
    assert data["meta"]["input_shape"] == [16, 1, 28, 28]
    assert "data:image/png;base64," in html.read_text()
    assert csv.read_text().startswith("layer,depth,stat,value\n")


def test_verdict_exits_1(capsys):
    code, out, _ = _run(["--model", "mlp", "--depth", "20", "--width", "32",
                         "--input-shape", "32,784", "--spectrum", "off"], capsys)
    assert code == 1 and "vanishing_gradient" in out


def test_init_auto_makes_a_deep_relu_mlp_healthy(tmp_path, capsys):
    pytest.importorskip("initlab.policy.apply")
    js = tmp_path / "r.json"
    args = ["--model", "mlp", "--depth", "20", "--width", "64", "--input-shape", "64,784",
            "--spectrum", "off", "--json", str(js)]
    code, _, _ = _run([*args, "--init", "auto"], capsys)
    data = json.loads(js.read_text())
    assert code == 0 and data["meta"]["init"] == "auto"
    first = data["layers"][1]
    assert first["layer"] == "fc1" and 0.9 < first["weight.std_ratio"] < 1.1


def test_deterministic_in_seed(tmp_path, capsys):
    paths = [tmp_path / f"{i}.json" for i in range(3)]
    for path, seed in zip(paths, ("3", "3", "4")):
        main(["diagnose", "--model", "seed-cnn", "--input-shape", "8,1,12,12", "--seed", seed,
              "--json", str(path), "--spectrum", "off"])
    a, b, c = (json.loads(p.read_text())["layers"] for p in paths)
    assert a == b and a != c


def test_bad_input_exits_2_with_one_line(capsys):
    code, _, err = _run(["--model", "nope"], capsys)
    assert code == 2 and err.startswith("Error: Unknown model 'nope'.") and err.count("\n") == 1
    code, _, err = _run(["--model", "mlp", "--input-shape", "64,x"], capsys)
    assert code == 2 and "--input-shape must be positive integers separated by commas, batch " \
                         "first; got '64,x'" in err
    code, _, err = _run(["--model", "seed-cnn", "--input-shape", "8,1,28,28",
                         "--dataset", "fashion-mnist"], capsys)
    assert code == 2 and "Give --dataset or --input-shape, not both" in err


def test_module_factory_from_the_current_folder(tmp_path, monkeypatch, capsys):
    (tmp_path / "diag_user_models.py").write_text(
        "from torch import nn\n"
        "def tiny(input_shape, num_classes):\n"
        "    return nn.Sequential(nn.Flatten(), nn.Linear(8, 16), nn.ReLU(),\n"
        "                         nn.Linear(16, num_classes))\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(os.fspath(tmp_path))
    assert main(["diagnose", "--model", "diag_user_models:tiny", "--input-shape", "8,8"]) == 0
    capsys.readouterr()
    code, _, err = _run(["--model", "diag_user_models:tiny", "--input-shape", "8,3"], capsys)
    assert code == 2 and "Error: Input of shape (8, 3) does not fit the model: its first layer " \
                         "'0' is Flatten(" in err
    code, _, err = _run(["--model", "diag_user_models:tinny"], capsys)
    assert code == 2 and "has no factory 'tinny'" in err and "Did you mean 'tiny'?" in err
    code, _, err = _run(["--model", "no_such_module_xyz:f"], capsys)
    assert code == 2 and "Cannot import module 'no_such_module_xyz'" in err


@pytest.mark.skipif(not os.path.isdir("/usr/share/datasets/fashion-mnist"),
                    reason="Debian's dataset-fashion-mnist is not installed")
def test_dataset_batch(tmp_path, capsys):
    path = tmp_path / "r.json"
    main(["diagnose", "--model", "seed-cnn", "--dataset", "fashion-mnist", "--json", str(path),
          "--spectrum", "off"])
    data = json.loads(path.read_text())
    assert data["meta"]["input_shape"] == [64, 1, 28, 28]
    assert data["meta"]["loss"] == "cross_entropy"
