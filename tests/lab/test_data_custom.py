"""Your own data: .npz, .pt, image folders, MODULE:FACTORY; a --data-dir must hold the data."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch

from initlab.errors import DataError
from initlab.lab.data import builtin as data
from initlab.lab.data.custom import fingerprint, load_custom
from initlab.lab.report import report_dict
from initlab.lab.sweep import Sweep, run_sweep
from initlab.lab.train import TrainConfig


def _arrays(n_train=40, n_test=12, shape=(1, 6, 6), seed=0, dtype=np.uint8):
    rng = np.random.default_rng(seed)
    hi = 256 if dtype == np.uint8 else 1
    return {"x_train": (rng.random((n_train, *shape)) * hi).astype(dtype),
            "y_train": rng.integers(0, 3, n_train), "x_test":
            (rng.random((n_test, *shape)) * hi).astype(dtype), "y_test": rng.integers(0, 3, n_test)}


def test_npz_round_trip_standardized(tmp_path):
    arrs = _arrays()
    np.savez(tmp_path / "d.npz", **arrs)
    ds = data.load(str(tmp_path / "d.npz"))
    assert ds.input_shape == (1, 6, 6) and ds.num_classes == 3 and len(ds.train_y) == 40
    assert ds.train_x.dtype == torch.float32 and ds.train_y.dtype == torch.int64
    assert float(ds.train_x.mean()) == pytest.approx(0.0, abs=1e-5)
    assert float(ds.train_x.std()) == pytest.approx(1.0, abs=1e-3)
    assert torch.equal(ds.test_y, torch.from_numpy(arrs["y_test"]))
    assert ds.source == str((tmp_path / "d.npz").resolve())


def test_pt_features_and_3d_images(tmp_path):
    arrs = {k: torch.as_tensor(v) for k, v in _arrays(shape=(5,), dtype=np.float32).items()}
    torch.save(arrs, tmp_path / "f.pt")
    ds = load_custom(str(tmp_path / "f.pt"))
    assert ds.input_shape == (5,)
    arrs = _arrays(shape=(6, 6))
    np.savez(tmp_path / "g.npz", **arrs)
    assert load_custom(str(tmp_path / "g.npz")).input_shape == (1, 6, 6)


def test_image_folder(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(0)
    for split, n in (("train", 3), ("test", 2)):
        for cls in ("cat", "dog"):
            (tmp_path / split / cls).mkdir(parents=True)
            for i in range(n):
                Image.fromarray(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)).save(
                    tmp_path / split / cls / f"{i}.png")
    ds = load_custom(str(tmp_path))
    assert ds.input_shape == (3, 8, 8) and ds.num_classes == 2
    assert ds.train_y.tolist() == [0, 0, 0, 1, 1, 1] and len(ds.test_y) == 4


def test_factory_from_current_folder(tmp_path, monkeypatch):
    (tmp_path / "mydata_mod.py").write_text(
        "import numpy as np\n"
        "def make():\n"
        "    r = np.random.default_rng(1)\n"
        "    return (r.random((20, 4)), r.integers(0, 2, 20), r.random((6, 4)),"
        " r.integers(0, 2, 6))\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", str(tmp_path))])
    ds = data.load("mydata_mod:make")
    assert ds.input_shape == (4,) and len(ds.train_y) == 20
    assert data.load("mydata_mod.py:make").input_shape == (4,)


@pytest.mark.parametrize("payload,match", [
    ({"x_train": np.zeros((4, 3))}, r"lacks \['y_train', 'x_test', 'y_test'\]"),
    ({**_arrays(), "y_train": np.zeros(3)}, r"y_train in .* has shape \(3,\) for 40 inputs"),
    ({**_arrays(), "y_train": np.full(40, 0.5)}, r"non-integer labels"),
    ({**_arrays(), "y_test": -np.ones(12, int)}, r"Negative label -1"),
    ({**_arrays(), "x_test": np.zeros((12, 2, 6, 6), np.uint8)}, r"differ in shape"),
])
def test_bad_npz_is_one_line_error(tmp_path, payload, match):
    np.savez(tmp_path / "bad.npz", **payload)
    with pytest.raises(DataError, match=match) as info:
        data.load(str(tmp_path / "bad.npz"))
    assert "\n" not in str(info.value)


def test_missing_and_corrupt_files(tmp_path):
    with pytest.raises(DataError, match=r"Dataset file .*nope\.npz not found"):
        data.load(str(tmp_path / "nope.npz"))
    (tmp_path / "junk.pt").write_bytes(b"not a pickle")
    with pytest.raises(DataError, match=r"Cannot read .*junk\.pt with torch\.load"):
        data.load(str(tmp_path / "junk.pt"))


def test_fingerprint_sees_one_changed_value(tmp_path):
    arrs = _arrays()
    np.savez(tmp_path / "a.npz", **arrs)
    arrs["y_test"][0] = (arrs["y_test"][0] + 1) % 3
    np.savez(tmp_path / "b.npz", **arrs)
    a, b = (load_custom(str(tmp_path / n)) for n in ("a.npz", "b.npz"))
    assert fingerprint(a) == fingerprint(load_custom(str(tmp_path / "a.npz")))
    assert fingerprint(a) != fingerprint(b)


def test_data_dir_without_the_dataset_is_an_error(tmp_path, monkeypatch):
    monkeypatch.setattr(data, "SYSTEM_ROOTS", (tmp_path / "system",))
    monkeypatch.delenv("INITLAB_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    from tests.lab.test_data import write_idx_set

    write_idx_set(tmp_path / "cache" / "initlab" / "fashion-mnist")  # a copy elsewhere
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match=r"Dataset 'fashion-mnist' not found in --data-dir "
                                        r".*empty; looked in: .*empty, .*empty/fashion-mnist; "
                                        r"download disabled"):
        Sweep_run(tmp_path / "out", data_dir=str(tmp_path / "empty"))


def Sweep_run(out, **kw):
    return run_sweep(Sweep(inits=["xavier_normal"], model="mlp", model_kwargs={"widths": [4]},
                           dataset="fashion-mnist", seeds=1, n_train=8, n_test=4,
                           train=TrainConfig(epochs=1, grad_norm_steps=0), **kw), out)


def test_sweep_on_npz_records_the_data(tmp_path):
    np.savez(tmp_path / "d.npz", **_arrays(shape=(4,), dtype=np.float32))
    run_sweep(Sweep(inits=["xavier_normal", "zeros"], model="mlp", model_kwargs={"widths": [4]},
                    dataset=str(tmp_path / "d.npz"), seeds=2,
                    train=TrainConfig(epochs=1, batch_size=8, grad_norm_steps=0)), tmp_path / "o")
    d = report_dict(tmp_path / "o")
    assert [s["n"] for s in d["summary"]] == [2, 2]
    assert d["runs"][0]["config"]["data"]["source"] == str((tmp_path / "d.npz").resolve())
