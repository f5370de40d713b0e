"""``initlab demo``: the seed-cnn experiment as a CLI command that installs nothing."""

from __future__ import annotations

import ast
import gzip
import struct
from pathlib import Path

import numpy as np
import pytest
from _cli import run_cli

import initlab.cli.demo as demo

IDX_PARTS = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
             "t10k-labels-idx1-ubyte")


def _write_tiny_fashion_mnist(folder: Path, n_train: int = 96, n_test: int = 32) -> None:
    """Four real IDX files (random 28x28 images, 10 classes): what the loader reads."""
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True)
    arrays = (rng.integers(0, 256, (n_train, 28, 28)), rng.integers(0, 10, n_train),
              rng.integers(0, 256, (n_test, 28, 28)), rng.integers(0, 10, n_test))
    for part, arr in zip(IDX_PARTS, arrays):
        arr = np.ascontiguousarray(arr, dtype=np.uint8)
        raw = struct.pack(">HBB", 0, 0x08, arr.ndim) + struct.pack(f">{arr.ndim}I", *arr.shape)
        (folder / f"{part}.gz").write_bytes(gzip.compress(raw + arr.tobytes()))


def test_missing_data_is_one_line_saying_how_to_get_it_and_exit_2(capsys, tmp_path):
    code, out, err = run_cli(capsys, "demo", "--data-dir", str(tmp_path / "empty"),
                             "--out", str(tmp_path / "out"))
    assert code == 2 and out == "" and err.count("\n") == 1
    assert err.startswith(f"Error: Fashion-MNIST not found in --data-dir {tmp_path / 'empty'}; ")
    for way in ("apt-get install -y dataset-fashion-mnist", "initlab data fashion-mnist "
                "--download", "--data-dir"):
        assert way in err
    assert not (tmp_path / "out").exists()          # nothing started


def test_the_demo_module_installs_nothing():
    source = Path(demo.__file__).read_text()
    tree = ast.parse(source)
    modules = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import)
               for alias in node.names}
    modules |= {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert not modules & {"subprocess", "shutil"}
    assert "os.system" not in source and "geteuid" not in source


def test_demo_fast_on_a_given_data_dir_prints_the_claims_and_the_report(capsys, tmp_path):
    data_dir, out_dir = tmp_path / "fmnist", tmp_path / "out"
    _write_tiny_fashion_mnist(data_dir)
    code, out, err = run_cli(capsys, "demo", "--fast", "--data-dir", str(data_dir),
                             "--out", str(out_dir))
    assert code == 0, err
    assert out.startswith("initlab demo: seed-cnn on Fashion-MNIST, conv1 initialized four "
                          "ways (fast variant) ...")
    assert "claims held" in out
    assert f"Report: {(out_dir / 'report.html').resolve()}" in out
    assert (out_dir / "report.html").is_file()
    assert out.rstrip().endswith(f"Table again: initlab report {out_dir}")


@pytest.mark.parametrize("argv", [["--help"], ["demo", "--help"]])
def test_demo_is_listed_and_documented(capsys, argv):
    code, out, _ = run_cli(capsys, *argv)
    assert code == 0 and "demo" in out
