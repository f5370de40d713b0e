"""Data faults: every damaged file gives a DataError naming it, never a partial dataset.

Each IDX file of a split (gz and plain) is damaged in each way a download or a disk can
damage it (cut anywhere, empty, wrong magic number, extra bytes, broken gzip, an HTML error
page), CIFAR batches likewise (cut pickle, wrong content, count mismatch, a crafted pickle
that would run code), and the CLI turns each into one ``Error:`` line.
"""

from __future__ import annotations

import gzip
import os
import pickle
import struct
import tarfile
from pathlib import Path
from urllib.error import URLError

import numpy as np
import pytest

from initlab.errors import DataError
from initlab.lab.data import builtin as data
from initlab.lab.data import fetch as data_fetch

PARTS = data._IDX_PARTS
MARKER = Path("/tmp") / f"initlab-data-fault-evaluated-{os.getpid()}"


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """No system dirs, no $INITLAB_DATA, the cache under tmp_path, no network."""
    monkeypatch.setattr(data, "SYSTEM_ROOTS", (tmp_path / "system",))
    monkeypatch.delenv("INITLAB_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))

    def no_network(*a, **k):
        raise URLError("network disabled in tests")

    monkeypatch.setattr(data_fetch, "urlopen", no_network)
    return tmp_path


def _idx(arr: np.ndarray) -> bytes:
    arr = np.ascontiguousarray(arr, dtype=np.uint8)
    return struct.pack(">HBB", 0, 0x08, arr.ndim) + struct.pack(f">{arr.ndim}I", *arr.shape) \
        + arr.tobytes()


def _write_idx(folder: Path, gz: bool, n_train=10, n_test=4) -> dict[str, Path]:
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {PARTS[0]: rng.integers(0, 256, (n_train, 5, 5)), PARTS[1]: rng.integers(0, 10, n_train),
              PARTS[2]: rng.integers(0, 256, (n_test, 5, 5)), PARTS[3]: rng.integers(0, 10, n_test)}
    paths = {}
    for part, arr in arrays.items():
        raw = _idx(arr)
        paths[part] = folder / (part + ".gz" if gz else part)
        paths[part].write_bytes(gzip.compress(raw) if gz else raw)
    return paths


def _raw(path: Path) -> bytes:
    b = path.read_bytes()
    return gzip.decompress(b) if path.suffix == ".gz" else b


def _put(path: Path, raw: bytes) -> None:
    path.write_bytes(gzip.compress(raw) if path.suffix == ".gz" else raw)


FAULTS = {
    "empty": (lambda raw: b"", r"Truncated IDX file"),
    "cut in header": (lambda raw: raw[:6], r"Truncated IDX file"),
    "cut after header": (lambda raw: raw[:-len(raw) // 2], r"Truncated IDX file"),
    "one byte short": (lambda raw: raw[:-1], r"Truncated IDX file"),
    "extra bytes": (lambda raw: raw + b"\0" * 7, r"Oversized IDX file"),
    "wrong magic": (lambda raw: b"\x12\x34\x56\x78" + raw[4:], r"Bad magic number in IDX file"),
    "images vs labels": (lambda raw: raw[:3] + bytes([4 - raw[3]]) + raw[4:],
                         r"Bad magic number in IDX file"),
    "html error page": (lambda raw: b"<html><body>404 Not Found</body></html>",
                        r"Bad magic number in IDX file"),
}


@pytest.mark.parametrize("gz", [True, False], ids=["gz", "plain"])
@pytest.mark.parametrize("part", PARTS)
@pytest.mark.parametrize("fault", list(FAULTS))
def test_damaged_idx_file_is_named(isolated, gz, part, fault):
    paths = _write_idx(isolated / "d", gz)
    damage, match = FAULTS[fault]
    _put(paths[part], damage(_raw(paths[part])))
    with pytest.raises(DataError, match=match) as info:
        data.load("mnist", isolated / "d", download=False)
    assert str(paths[part]) in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize("part", PARTS)
def test_broken_gzip_is_named(isolated, part):
    paths = _write_idx(isolated / "d", gz=True)
    whole = paths[part].read_bytes()
    for cut in (len(whole) // 2, len(whole) - 5):        # stream cut, CRC missing
        paths[part].write_bytes(whole[:cut])
        with pytest.raises(DataError, match=r"Corrupted gzip file") as info:
            data.load("mnist", isolated / "d", download=False)
        assert str(paths[part]) in str(info.value)
    flipped = bytearray(whole)
    flipped[len(whole) // 2] ^= 0xFF                     # corrupted body (CRC mismatch)
    paths[part].write_bytes(bytes(flipped))
    with pytest.raises(DataError, match=str(paths[part])):
        data.load("mnist", isolated / "d", download=False)


def test_every_cut_point_of_a_file_is_an_error(isolated):
    """A file cut at any byte (header, shape, body) never loads as a shorter dataset."""
    paths = _write_idx(isolated / "d", gz=False, n_train=3)
    raw = paths[PARTS[0]].read_bytes()
    for cut in range(len(raw)):
        paths[PARTS[0]].write_bytes(raw[:cut])
        with pytest.raises(DataError, match=str(paths[PARTS[0]])):
            data.load("mnist", isolated / "d", download=False)


@pytest.mark.parametrize("split", [0, 2], ids=["train", "test"])
def test_image_label_count_mismatch_names_both_files(isolated, split):
    paths = _write_idx(isolated / "d", gz=True)
    images, labels = PARTS[split], PARTS[split + 1]
    raw = _raw(paths[labels])
    n = struct.unpack(">I", raw[4:8])[0]
    _put(paths[labels], raw[:4] + struct.pack(">I", n - 1) + raw[8:-1])   # a consistent file
    with pytest.raises(DataError, match=rf"count mismatch: .*has {n} images but .*has {n - 1} "
                                        r"labels") as info:
        data.load("mnist", isolated / "d", download=False)
    assert str(paths[images]) in str(info.value) and str(paths[labels]) in str(info.value)


class _Evil:
    def __reduce__(self):
        return (open, (str(MARKER), "w"))


def _batch(n=3, key=b"labels", width=3072, dtype=np.uint8, n_labels=None):
    rng = np.random.default_rng(n)
    return {b"data": rng.integers(0, 256, (n, width)).astype(dtype), b"batch_label": b"x",
            key: rng.integers(0, 10, n if n_labels is None else n_labels).tolist(),
            b"filenames": [b"f%d.png" % i for i in range(n)]}


CIFAR_FAULTS = {
    "cut pickle": (lambda: pickle.dumps(_batch())[:-40], r"Corrupted CIFAR batch .*: "),
    "not a pickle": (lambda: b"\x89PNG\r\n\x1a\n", r"Corrupted CIFAR batch"),
    "a list": (lambda: pickle.dumps([1, 2, 3]), r"got a list; expected a dict"),
    "missing labels": (lambda: pickle.dumps(_batch(key=b"fine_labels")),
                       r"expected 'data' and 'labels'"),
    "float data": (lambda: pickle.dumps(_batch(dtype=np.float32)), r"data float32 \(3, 3072\)"),
    "wrong width": (lambda: pickle.dumps(_batch(width=3071)), r"expected uint8 \(N, 3072\)"),
    "count mismatch": (lambda: pickle.dumps(_batch(n_labels=2)),
                       r"Image/label count mismatch in CIFAR batch .*3 images, 2 labels"),
    "code in pickle": (lambda: pickle.dumps({b"data": _Evil(), b"labels": []}),
                       r"refusing to load global .*open"),
    "bad gzip": (lambda: gzip.compress(pickle.dumps(_batch()))[:-12], r"Corrupted gzip file"),
}


@pytest.mark.parametrize("fault", list(CIFAR_FAULTS))
def test_damaged_cifar_batch_is_named(isolated, fault):
    folder = isolated / "c" / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        (folder / name).write_bytes(pickle.dumps(_batch(), protocol=2))
    assert data.load("cifar10", isolated / "c").train_x.shape == (15, 3, 32, 32)
    make, match = CIFAR_FAULTS[fault]
    (folder / "data_batch_4").write_bytes(make())
    MARKER.unlink(missing_ok=True)
    with pytest.raises(DataError, match=match) as info:
        data.load("cifar10", isolated / "c", download=False)
    assert str(folder / "data_batch_4") in str(info.value) and "\n" not in str(info.value)
    assert not MARKER.exists(), "the pickle ran code"


def test_truncated_cifar_archive_is_named(isolated):
    src = isolated / "src" / "cifar-10-batches-py"
    src.mkdir(parents=True)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        (src / name).write_bytes(pickle.dumps(_batch()))
    (isolated / "arch").mkdir()
    archive = isolated / "arch" / "cifar-10-python.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(src, arcname="cifar-10-batches-py")
    archive.write_bytes(archive.read_bytes()[: archive.stat().st_size // 2])
    with pytest.raises(DataError, match=rf"Corrupted archive {archive}"):
        data.load("cifar10", isolated / "arch", download=False)


def test_the_cli_prints_one_error_line_naming_the_file(isolated, capsys):
    from initlab.cli import main

    paths = _write_idx(isolated / "d", gz=True)
    _put(paths[PARTS[2]], _raw(paths[PARTS[2]])[:-3])
    try:
        code = main(["compare", "--model", "mlp", "--dataset", "mnist", "--data-dir",
                     str(isolated / "d"), "--policies", "zeros", "--seeds", "1", "--epochs", "1",
                     "--out", str(isolated / "out"), "--quiet"])
    except SystemExit as exc:
        code = exc.code
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.startswith("Error: Truncated IDX file ") and "\n" not in err
    assert str(paths[PARTS[2]]) in err
    assert not (isolated / "out" / "initlab.db").exists()     # nothing recorded
