"""Loaders, resolution order, downloads (monkeypatched network) and corrupted files."""

from __future__ import annotations

import gzip
import hashlib
import io
import pickle
import struct
import tarfile
from dataclasses import replace
from pathlib import Path
from urllib.error import URLError

import numpy as np
import pytest
import torch

from initlab._core.registry import Registry
from initlab.errors import ConfigError, DataError, UnknownNameError
from initlab.lab.data import builtin as data
from initlab.lab.data import fetch as data_fetch

FASHION = Path("/usr/share/datasets/fashion-mnist")
PARTS = data._IDX_PARTS


def idx_bytes(arr: np.ndarray) -> bytes:
    arr = np.ascontiguousarray(arr, dtype=np.uint8)
    return struct.pack(">HBB", 0, 0x08, arr.ndim) + struct.pack(f">{arr.ndim}I", *arr.shape) \
        + arr.tobytes()


def write_idx_set(folder: Path, n_train=12, n_test=5, gz=True, seed=0, size=6) -> dict:
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {
        PARTS[0]: rng.integers(0, 256, (n_train, size, size)),
        PARTS[1]: rng.integers(0, 10, n_train),
        PARTS[2]: rng.integers(0, 256, (n_test, size, size)),
        PARTS[3]: rng.integers(0, 10, n_test),
    }
    for part, arr in arrays.items():
        raw = idx_bytes(arr)
        (folder / (part + ".gz" if gz else part)).write_bytes(gzip.compress(raw) if gz else raw)
    return arrays


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """No system dirs, no $INITLAB_DATA, the cache under tmp_path; no network."""
    monkeypatch.setattr(data, "SYSTEM_ROOTS", (tmp_path / "system",))
    monkeypatch.delenv("INITLAB_DATA", raising=False)
    monkeypatch.delenv("INITLAB_OFFLINE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))

    def no_network(*a, **k):
        raise URLError("network disabled in tests")

    monkeypatch.setattr(data_fetch, "urlopen", no_network)
    return tmp_path


@pytest.mark.parametrize("gz", [True, False])
def test_idx_round_trip_and_normalization(isolated, gz):
    arrays = write_idx_set(isolated / "d", gz=gz)
    ds = data.load("mnist", isolated / "d")
    assert ds.train_x.shape == (12, 1, 6, 6) and ds.test_x.shape == (5, 1, 6, 6)
    assert ds.train_x.dtype == torch.float32 and ds.train_y.dtype == torch.int64
    assert ds.input_shape == (1, 6, 6) and ds.num_classes == 10
    np.testing.assert_array_equal(ds.train_y.numpy(), arrays[PARTS[1]])
    raw = arrays[PARTS[0]] / 255.0
    assert ds.mean[0] == pytest.approx(raw.mean(), rel=1e-5)
    assert ds.std[0] == pytest.approx(raw.std(), rel=1e-5)
    assert float(ds.train_x.mean()) == pytest.approx(0.0, abs=1e-5)
    assert float(ds.train_x.std(unbiased=False)) == pytest.approx(1.0, rel=1e-5)
    expected_test = (arrays[PARTS[2]] / 255.0 - raw.mean()) / raw.std()  # train statistics
    np.testing.assert_allclose(ds.test_x.numpy()[:, 0], expected_test, rtol=1e-4, atol=1e-5)


def test_given_and_disabled_normalization(isolated):
    arrays = write_idx_set(isolated / "d")
    ds = data.load("mnist", isolated / "d", normalize=(0.5, 0.25))
    np.testing.assert_allclose(ds.train_x.numpy()[:, 0], (arrays[PARTS[0]] / 255 - 0.5) / 0.25,
                               rtol=1e-5, atol=1e-5)
    ds = data.load("mnist", isolated / "d", normalize=False)
    assert float(ds.train_x.min()) >= 0 and float(ds.train_x.max()) <= 1
    with pytest.raises(ConfigError, match=r"normalize mean has 3 values; expected 1 or 1"):
        data.load("mnist", isolated / "d", normalize=((0.1, 0.2, 0.3), 0.5))
    with pytest.raises(ConfigError, match=r"normalize std must be positive"):
        data.load("mnist", isolated / "d", normalize=(0.1, 0.0))


@pytest.mark.parametrize("channels", [1, 3])
def test_histogram_statistics_equal_the_float_computation(channels):
    """Mean and std from 256-bin pixel histograms = var_mean over the float images (up to
    float32 rounding), and the conversion gives the float32 values of
    ``(x / 255 - mean) / std`` bit for bit, read-only input included."""
    g = np.random.default_rng(channels)
    x = g.integers(0, 256, (300, channels, 7, 5), dtype=np.uint8)
    x[:50] = g.integers(250, 256, (50, channels, 7, 5), dtype=np.uint8)  # skewed values
    floats = torch.from_numpy(x).to(torch.float32).div_(255.0)
    exact = torch.from_numpy(x).double() / 255.0
    var, mean = torch.var_mean(exact, dim=(0, 2, 3), correction=0)
    got_mean, got_std = data._stats(x, True)
    np.testing.assert_allclose(got_mean, mean.numpy(), rtol=1e-12)
    np.testing.assert_allclose(got_std, var.sqrt().numpy(), rtol=1e-12)
    var32, mean32 = torch.var_mean(floats, dim=(0, 2, 3), correction=0)  # the old way
    np.testing.assert_allclose(got_mean, mean32.numpy(), rtol=1e-5)
    np.testing.assert_allclose(got_std, var32.sqrt().numpy(), rtol=1e-5)
    m = torch.tensor(got_mean, dtype=torch.float32).view(1, -1, 1, 1)
    s = torch.tensor(got_std, dtype=torch.float32).view(1, -1, 1, 1)
    expected = floats.clone().sub_(m).div_(s)
    assert torch.equal(data._normalized(x, got_mean, got_std), expected)
    assert torch.equal(data._normalized(x[:0], got_mean, got_std), expected[:0])
    frozen = np.frombuffer(x.tobytes(), np.uint8).reshape(x.shape)  # as read from a file
    assert torch.equal(data._normalized(frozen, got_mean, got_std), expected)
    assert data._stats(frozen, True) == (got_mean, got_std)


def test_bad_magic_names_the_file(isolated):
    write_idx_set(isolated / "d", gz=False)
    labels = isolated / "d" / PARTS[1]
    labels.write_bytes(b"\x00\x00\x08\x03" + labels.read_bytes()[4:])  # images magic
    with pytest.raises(DataError, match=r"Bad magic number in IDX file .*train-labels.*got "
                                        r"0x00000803; expected 0x00000801"):
        data.load("mnist", isolated / "d")


def test_truncated_file_names_the_file(isolated):
    write_idx_set(isolated / "d", gz=True)
    f = isolated / "d" / (PARTS[2] + ".gz")
    f.write_bytes(gzip.compress(gzip.decompress(f.read_bytes())[:-7]))
    with pytest.raises(DataError, match=r"Truncated IDX file .*t10k-images.*expected 196 "):
        data.load("mnist", isolated / "d")


def test_truncated_header(isolated):
    write_idx_set(isolated / "d", gz=False)
    (isolated / "d" / PARTS[0]).write_bytes(b"\x00\x00\x08\x03\x00\x00")
    with pytest.raises(DataError, match=r"Truncated IDX file .*train-images.*16-byte header"):
        data.load("mnist", isolated / "d")


def test_bad_gzip_names_the_file(isolated):
    write_idx_set(isolated / "d", gz=True)
    f = isolated / "d" / (PARTS[0] + ".gz")
    f.write_bytes(f.read_bytes()[:40])
    with pytest.raises(DataError, match=r"Corrupted gzip file .*train-images-idx3-ubyte.gz"):
        data.load("mnist", isolated / "d")


@pytest.mark.parametrize("damage", ["truncated", "flipped", "trailing"])
def test_gunzip_equals_gzip_and_rejects_damage_like_it(tmp_path, damage):
    """The fast gunzip (ISA-L when installed) gives gzip's bytes, and fails where it fails."""
    from initlab.lab.data import formats as data_formats

    payload = np.random.default_rng(0).integers(0, 7, 200_000, dtype=np.uint8).tobytes()
    blob = gzip.compress(payload)
    f = tmp_path / "x.gz"
    f.write_bytes(blob)
    assert data_formats.read_bytes(f) == payload
    bad = {"truncated": blob[:-9], "flipped": blob[:30] + bytes([blob[30] ^ 0xFF]) + blob[31:],
           "trailing": blob + b"\x1f\x8b\x08garbage"}[damage]
    f.write_bytes(bad)
    with pytest.raises(Exception):  # noqa: B017 - the reference: stdlib gzip fails on it
        gzip.decompress(bad)
    with pytest.raises(DataError, match=r"Corrupted gzip file .*x.gz"):
        data_formats.read_bytes(f)


def test_label_image_count_mismatch(isolated):
    write_idx_set(isolated / "d", gz=False)
    (isolated / "d" / PARTS[1]).write_bytes(idx_bytes(np.zeros(11)))
    with pytest.raises(DataError, match=r"count mismatch: .*has 12 images but .*has 11 labels"):
        data.load("mnist", isolated / "d")


def test_labels_out_of_range(isolated):
    write_idx_set(isolated / "d", gz=False)
    (isolated / "d" / PARTS[3]).write_bytes(idx_bytes(np.full(5, 12)))
    with pytest.raises(DataError, match=r"Labels out of range in the test split"):
        data.load("mnist", isolated / "d")


def test_resolution_order(isolated, monkeypatch):
    write_idx_set(isolated / "system" / "kmnist", n_train=4)
    with pytest.raises(DataError):  # nothing anywhere for mnist
        data.load("mnist", download=False)
    assert data.load("kmnist").source == str(isolated / "system" / "kmnist")
    write_idx_set(isolated / "cache" / "initlab" / "kmnist", n_train=5)
    assert len(data.load("kmnist").train_y) == 5
    write_idx_set(isolated / "env" / "kmnist", n_train=6)
    monkeypatch.setenv("INITLAB_DATA", str(isolated / "env"))
    assert len(data.load("kmnist").train_y) == 6
    write_idx_set(isolated / "arg", n_train=7)
    assert len(data.load("kmnist", isolated / "arg").train_y) == 7
    assert data.locate("kmnist", isolated / "arg") == isolated / "arg"
    assert data.search_dirs("kmnist", isolated / "arg")[:4] == [
        isolated / "arg", isolated / "arg" / "kmnist", isolated / "env", isolated / "env" / "kmnist"]


def test_missing_offline_says_where_and_how(isolated):
    with pytest.raises(DataError, match=r"Dataset 'fashion-mnist' not found; looked in: .*cache"
                       r"/initlab/fashion-mnist.*the download failed .*network disabled.*"
                       r"apt-get install dataset-fashion-mnist.*fashion-mnist.s3"):
        data.load("fashion-mnist")
    with pytest.raises(DataError, match=r"download disabled; .*hint: download .*cifar-10-python"
                       r"\.tar\.gz from https://www.cs.toronto.edu/~kriz/ into "):
        data.load("cifar10", download=False)


def test_offline_env_never_touches_network(isolated, monkeypatch):
    monkeypatch.setenv("INITLAB_OFFLINE", "1")
    monkeypatch.setattr(data_fetch, "urlopen", lambda *a, **k: pytest.fail("network used"))
    with pytest.raises(DataError, match=r"download disabled \(\$INITLAB_OFFLINE\)"):
        data.load("mnist")


class _Response(io.BytesIO):
    def __init__(self, payload: bytes):
        super().__init__(payload)
        self.headers = {"Content-Length": str(len(payload))}


def _serve(monkeypatch, files: dict[str, bytes], requested: list):
    def fake_urlopen(request, timeout=None):
        url = request.full_url
        requested.append(url)
        return _Response(files[url.rsplit("/", 1)[1]])

    monkeypatch.setattr(data_fetch, "urlopen", fake_urlopen)


def test_download_with_checksum(isolated, monkeypatch):
    write_idx_set(isolated / "src", n_train=9)
    served = {p.name: p.read_bytes() for p in (isolated / "src").iterdir()}
    s = data.DATASETS.get("mnist")
    md5 = {name: hashlib.md5(served[name]).hexdigest() for name in s.md5}
    patched = Registry("dataset", normalize=data._dataset_key)  # mnist with these md5s
    for name, spec in data.DATASETS.items():
        patched.add(name, replace(s, md5=md5) if name == "mnist" else spec, aliases=spec.aliases)
    monkeypatch.setattr(data, "DATASETS", patched)
    requested: list[str] = []
    _serve(monkeypatch, served, requested)
    ds = data.load("mnist", progress=True)
    target = isolated / "cache" / "initlab" / "mnist"
    assert ds.source == str(target) and len(ds.train_y) == 9
    assert requested == [s.urls[0] + name for name in s.md5]
    assert sorted(p.name for p in target.iterdir()) == sorted(s.md5)  # no .part left
    requested.clear()
    data.load("mnist")
    assert requested == []  # found in the cache the second time


def test_download_checksum_mismatch_leaves_nothing(isolated, monkeypatch):
    write_idx_set(isolated / "src")
    served = {p.name: p.read_bytes() for p in (isolated / "src").iterdir()}
    _serve(monkeypatch, served, [])
    with pytest.raises(DataError, match=r"Checksum mismatch for train-images-idx3-ubyte.gz from "
                                        r"https://ossci-datasets.*expected f68b3c2d"):
        data.load("mnist", isolated / "dl", progress=False)
    assert list((isolated / "dl").iterdir()) == []


def test_download_falls_back_to_mirror(isolated, monkeypatch):
    write_idx_set(isolated / "src")
    served = {p.name: p.read_bytes() for p in (isolated / "src").iterdir()}
    urls: list[str] = []

    def flaky(request, timeout=None):
        urls.append(request.full_url)
        if "ossci" in request.full_url:
            raise URLError("mirror down")
        return _Response(served[request.full_url.rsplit("/", 1)[1]])

    monkeypatch.setattr(data_fetch, "urlopen", flaky)
    out = data_fetch.download_file([data.DATASETS.get("mnist").urls[0] + "x.gz",
                                    data.DATASETS.get("mnist").urls[1] + PARTS[1] + ".gz"],
                                   isolated / "f.gz", None, show_progress=False)
    assert out.read_bytes() == served[PARTS[1] + ".gz"] and len(urls) == 2


def _cifar_batch(path: Path, n: int, key: str, classes: int, seed: int):
    rng = np.random.default_rng(seed)
    batch = {b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
             key.encode(): rng.integers(0, classes, n).tolist()}
    path.write_bytes(pickle.dumps(batch))
    return batch


def test_cifar10_batches_and_archive(isolated):
    folder = isolated / "c" / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    batches = [_cifar_batch(folder / f"data_batch_{i}", 3, "labels", 10, i) for i in range(1, 6)]
    _cifar_batch(folder / "test_batch", 4, "labels", 10, 9)
    ds = data.load("cifar-10", isolated / "c")
    assert ds.name == "cifar10" and ds.train_x.shape == (15, 3, 32, 32)
    assert ds.test_x.shape == (4, 3, 32, 32) and ds.input_shape == (3, 32, 32)
    assert ds.train_y.tolist() == sum((b[b"labels"] for b in batches), [])
    per_channel = ds.train_x.transpose(0, 1).reshape(3, -1)
    torch.testing.assert_close(per_channel.mean(1), torch.zeros(3), atol=1e-5, rtol=0)
    raw = np.concatenate([b[b"data"] for b in batches]).reshape(-1, 3, 1024) / 255.0
    assert ds.mean == pytest.approx(tuple(raw.transpose(1, 0, 2).reshape(3, -1).mean(1)))
    # the official archive layout: unpacked on first load
    with tarfile.open(isolated / "a.tar.gz", "w:gz") as tar:
        tar.add(folder, arcname="cifar-10-batches-py")
    (isolated / "arch").mkdir()
    (isolated / "a.tar.gz").rename(isolated / "arch" / "cifar-10-python.tar.gz")
    ds2 = data.load("cifar10", isolated / "arch")
    torch.testing.assert_close(ds2.train_x, ds.train_x)


def test_cifar100_and_corrupted_batch(isolated):
    folder = isolated / "c"
    folder.mkdir()
    _cifar_batch(folder / "train", 6, "fine_labels", 100, 1)
    _cifar_batch(folder / "test", 2, "fine_labels", 100, 2)
    ds = data.load("cifar100", folder)
    assert ds.num_classes == 100 and ds.train_x.shape == (6, 3, 32, 32)
    (folder / "test").write_bytes(b"not a pickle")
    with pytest.raises(DataError, match=r"Corrupted CIFAR batch .*test: UnpicklingError"):
        data.load("cifar100", folder)
    _cifar_batch(folder / "test", 2, "labels", 100, 2)  # a CIFAR-10 batch
    with pytest.raises(DataError, match=r"expected 'data' and 'fine_labels'"):
        data.load("cifar100", folder)


def test_unknown_dataset_suggests():
    with pytest.raises(UnknownNameError, match=r"Unknown dataset 'fashion-mnst'. Did you mean "
                                               r"'fashion-mnist'\? Available: \["):
        data.load("fashion-mnst")
    assert set(data.datasets()) >= {"mnist", "fashion-mnist", "kmnist", "cifar10", "cifar100",
                                    "synthetic"}


def test_synthetic_is_deterministic_and_subset():
    a = data.synthetic(64, 16, (2, 4, 4), 3, seed=5)
    b = data.synthetic(64, 16, (2, 4, 4), 3, seed=5)
    c = data.synthetic(64, 16, (2, 4, 4), 3, seed=6)
    torch.testing.assert_close(a.train_x, b.train_x, rtol=0, atol=0)
    assert not torch.equal(a.train_x, c.train_x)
    assert a.train_x.shape == (64, 2, 4, 4) and a.test_y.shape == (16,)
    assert int(a.train_y.max()) < 3 and a.input_shape == (2, 4, 4)
    small = a.subset(10, 3)
    assert len(small.train_y) == 10 and len(small.test_y) == 3
    with pytest.raises(ConfigError, match=r"synthetic\(\) got n_train=0"):
        data.synthetic(0, 1, (4,), 3)


@pytest.mark.skipif(not (FASHION / "train-images-idx3-ubyte.gz").exists(),
                    reason="Debian's dataset-fashion-mnist is not installed")
def test_real_fashion_mnist(monkeypatch):
    monkeypatch.delenv("INITLAB_DATA", raising=False)
    ds = data.load("fashion-mnist", FASHION, download=False)
    assert ds.train_x.shape == (60000, 1, 28, 28) and ds.test_x.shape == (10000, 1, 28, 28)
    assert ds.train_y.bincount().tolist() == [6000] * 10
    assert ds.mean[0] == pytest.approx(0.2860, abs=1e-4)
    assert ds.std[0] == pytest.approx(0.3530, abs=1e-4)
    assert float(ds.train_x.mean()) == pytest.approx(0.0, abs=1e-4)
    assert float(ds.train_x.std()) == pytest.approx(1.0, abs=1e-4)


def test_cli_lists_found_and_missing(isolated):
    import json

    from click.testing import CliRunner

    from initlab.cli.data import command

    write_idx_set(isolated / "system" / "kmnist")
    out = CliRunner().invoke(command, ["--json"])
    assert out.exit_code == 0, out.output
    rows = {r["name"]: r for r in json.loads(out.output)}
    assert rows["kmnist"]["found"] and rows["kmnist"]["path"] == str(isolated / "system/kmnist")
    assert not rows["mnist"]["found"] and "ossci-datasets" in rows["mnist"]["how_to_get"]
    assert "apt-get install dataset-fashion-mnist" in rows["fashion-mnist"]["how_to_get"]
    out = CliRunner().invoke(command, ["kmnist", "--check"])
    assert out.exit_code == 0 and "kmnist: train (12, 1, 6, 6), test (5, 1, 6, 6)" in out.output
    out = CliRunner().invoke(command, ["mnist", "--check"])
    assert isinstance(out.exception, DataError)
    out = CliRunner().invoke(command, ["--download"])
    assert isinstance(out.exception, ConfigError)
    assert "--download needs dataset names" in str(out.exception)
