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
    code = main(["diagnose", "--model", "seed-cnn", "--input-shape", "1,28,28",
                 "--batch-size", "16", "--html", str(html), "--json-out", str(js),
                 "--csv", str(csv)])
    out = capsys.readouterr().out
    assert code == 0 and "healthy" in out
    data = json.loads(js.read_text())
    assert data["healthy"] is True and data["meta"]["model"] == "seed-cnn"
    assert data["meta"]["input_shape"] == [16, 1, 28, 28]
    assert "data:image/svg+xml;base64," in html.read_text()
    assert csv.read_text().startswith("layer,depth,stat,value\n")


def test_verdict_exits_1(capsys):
    code, out, _ = _run(["--model", "mlp", "--model-arg", "depth=20", "--model-arg", "width=32",
                         "--input-shape", "784", "--batch-size", "32", "--spectrum", "off"],
                        capsys)
    assert code == 1 and "vanishing_gradient" in out


def test_init_auto_makes_a_deep_relu_mlp_healthy(tmp_path, capsys):
    pytest.importorskip("initlab.policy.apply")
    js = tmp_path / "r.json"
    args = ["--model", "mlp", "--model-arg", "depth=20", "--model-arg", "width=64",
            "--input-shape", "784", "--spectrum", "off", "--json-out", str(js)]
    code, _, _ = _run([*args, "--policy", "auto"], capsys)
    data = json.loads(js.read_text())
    assert code == 0 and data["meta"]["init"] == "auto"
    first = data["layers"][1]
    assert first["layer"] == "fc1" and 0.9 < first["weight.std_ratio"] < 1.1


def test_deterministic_in_seed(tmp_path, capsys):
    paths = [tmp_path / f"{i}.json" for i in range(3)]
    for path, seed in zip(paths, ("3", "3", "4")):
        main(["diagnose", "--model", "seed-cnn", "--input-shape", "1,12,12",
              "--batch-size", "8", "--seed", seed, "--json-out", str(path), "--spectrum", "off"])
    a, b, c = (json.loads(p.read_text())["layers"] for p in paths)
    assert a == b and a != c


def test_bad_input_exits_2_with_one_line(capsys):
    code, _, err = _run(["--model", "nope"], capsys)
    assert code == 2 and err.startswith("Error: Unknown model 'nope'.") and err.count("\n") == 1
    code, _, err = _run(["--model", "mlp", "--input-shape", "64,x"], capsys)
    assert code == 2 and "--input-shape must be positive integers separated by commas, without " \
                         "the batch; got '64,x'" in err
    code, _, err = _run(["--model", "seed-cnn", "--input-shape", "1,28,28",
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
    assert main(["diagnose", "--model", "diag_user_models:tiny", "--input-shape", "8",
                 "--batch-size", "8"]) == 0
    capsys.readouterr()
    code, _, err = _run(["--model", "diag_user_models:tiny", "--input-shape", "3",
                         "--batch-size", "8"], capsys)
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
    main(["diagnose", "--model", "seed-cnn", "--dataset", "fashion-mnist", "--json-out", str(path),
          "--spectrum", "off"])
    data = json.loads(path.read_text())
    assert data["meta"]["input_shape"] == [64, 1, 28, 28]
    assert data["meta"]["loss"] == "cross_entropy"


def test_json_prints_the_report_on_stdout(capsys):
    code, out, _ = _run(["--model", "seed-cnn", "--input-shape", "1,12,12", "--batch-size", "4",
                         "--spectrum", "off", "--json"], capsys)
    data = json.loads(out)
    assert code == 0 and data["healthy"] is True and data["meta"]["input_shape"] == [4, 1, 12, 12]


def test_old_flags_warn_once_and_still_work(tmp_path, capsys):
    new, old = tmp_path / "new.json", tmp_path / "old.json"
    _run(["--model", "mlp", "--model-arg", "depth=3", "--model-arg", "width=16",
          "--input-shape", "784", "--batch-size", "8", "--spectrum", "off", "--policy", "auto",
          "--json-out", str(new)], capsys)
    code, _, err = _run(["--model", "mlp", "--depth", "3", "--width", "16", "--input-shape", "784",
                         "--batch-size", "8", "--spectrum", "off", "--init", "auto",
                         "--json", str(old)], capsys)
    warnings = [line for line in err.splitlines() if line.startswith("Warning:")]
    assert len(warnings) == 4 and all("is deprecated" in w for w in warnings)
    assert {w.split()[1] for w in warnings} == {"--init", "--depth", "--width", "--json"}
    assert json.loads(old.read_text())["layers"] == json.loads(new.read_text())["layers"]
    code, _, err = _run(["--model", "mlp", "--policy", "auto", "--init", "auto"], capsys)
    assert code == 2 and "Error: Give --policy or its deprecated alias --init, not both" in err
