"""Readers for the two on-disk formats the lab knows: IDX (MNIST family) and CIFAR pickles.

Both return whole splits as numpy arrays (``uint8`` images, ``int64`` labels) read in one
``numpy.frombuffer`` call, no per-sample Python. Every structural problem (bad gzip, bad
magic number, a length that disagrees with the header, image and label counts that differ)
raises :class:`~initlab.errors.DataError` naming the file: never a partial dataset.
"""

from __future__ import annotations

import gzip
import io
import pickle
import struct
import tarfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from initlab.errors import DataError

__all__ = ["read_bytes", "read_idx", "read_idx_pair", "read_cifar_batches", "extract_tar"]

_GZIP_MAGIC = b"\x1f\x8b"
# IDX type code (third magic byte) -> numpy dtype (big-endian on disk)
_IDX_TYPES: dict[int, np.dtype[Any]] = {
    0x08: np.dtype("u1"),
    0x09: np.dtype("i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


try:  # Intel ISA-L: the same bytes, decompressed 2-2.4x faster than zlib (optional)
    from isal import igzip as _igzip
    from isal import isal_zlib as _isal_zlib

    _gunzip = _igzip.decompress
    _ISAL_ERRORS: tuple = (_isal_zlib.error,)
except ImportError:  # pragma: no cover - isal is a dependency, but wheels may be missing
    _gunzip = gzip.decompress
    _ISAL_ERRORS = ()


def read_bytes(path: Path) -> bytes:
    """The file's content, gunzipped when it starts with the gzip magic (whatever its name)."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DataError(f"Cannot read data file {path}: {exc.strerror or exc}; "
                        "expected a readable file; hint: check its permissions") from exc
    if not raw.startswith(_GZIP_MAGIC):
        return raw
    try:
        return _gunzip(raw)
    except (OSError, EOFError, zlib.error, *_ISAL_ERRORS) as exc:
        raise DataError(f"Corrupted gzip file {path}: {exc}; expected a complete gzip "
                        "stream; hint: delete it and download it again") from exc


def read_idx(path: Path, *, ndim: int) -> np.ndarray:
    """One IDX file as an array of ``ndim`` dimensions (1: labels, 3: images)."""
    path = Path(path)
    data = read_bytes(path)
    if len(data) < 4:
        raise DataError(f"Truncated IDX file {path}: got {len(data)} bytes; expected at least "
                        "a 4-byte magic number; hint: delete it and download it again")
    zero, code, dims = struct.unpack(">HBB", data[:4])
    if zero != 0 or code not in _IDX_TYPES or dims != ndim:
        expected = 0x800 + ndim
        raise DataError(f"Bad magic number in IDX file {path}: got 0x{data[:4].hex()}; "
                        f"expected 0x{expected:08x} (ubyte, {ndim}-d); hint: is it the "
                        "right file (images vs labels) and not an HTML error page?")
    header = 4 + 4 * dims
    if len(data) < header:
        raise DataError(f"Truncated IDX file {path}: got {len(data)} bytes; expected a "
                        f"{header}-byte header; hint: delete it and download it again")
    shape = struct.unpack(f">{dims}I", data[4:header])
    dtype = _IDX_TYPES[code]
    expected_len = header + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(data) != expected_len:
        what = "Truncated" if len(data) < expected_len else "Oversized"
        raise DataError(f"{what} IDX file {path}: got {len(data)} bytes; expected "
                        f"{expected_len} for shape {tuple(shape)}; hint: delete it and "
                        "download it again")
    return np.frombuffer(data, dtype=dtype, offset=header).reshape(shape)


def read_idx_pair(images: Path, labels: Path) -> tuple[np.ndarray, np.ndarray]:
    """Images ``(N, 1, H, W)`` uint8 and labels ``(N,)`` int64 of one split, counts checked."""
    x = read_idx(images, ndim=3)
    y = read_idx(labels, ndim=1)
    if x.shape[0] != y.shape[0]:
        raise DataError(f"Image/label count mismatch: {images} has {x.shape[0]} images but "
                        f"{labels} has {y.shape[0]} labels; expected equal counts; hint: "
                        "the files come from different releases or splits")
    return x.reshape(x.shape[0], 1, *x.shape[1:]), y.astype(np.int64)


# what a CIFAR batch may reference: numpy arrays (numpy 1 and 2 module paths) and bytes as
# Python 3 writes them at protocol <= 2 (_codecs.encode); nothing that can run code
_PICKLE_GLOBALS = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray",
                   "_reconstruct"), ("numpy", "ndarray"), ("numpy", "dtype"),
                   ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
                   ("_codecs", "encode")}


class _DataUnpickler(pickle.Unpickler):
    """Unpickles plain data and numpy arrays only: a crafted "CIFAR batch" cannot run code."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in _PICKLE_GLOBALS:
            raise pickle.UnpicklingError(f"refusing to load global {module}.{name} (a CIFAR "
                                         "batch holds only arrays, lists and bytes)")
        return super().find_class(module, name)


def _load_pickle(path: Path) -> dict:
    data = read_bytes(path)
    try:
        obj = _DataUnpickler(io.BytesIO(data), encoding="bytes").load()
    except Exception as exc:  # noqa: BLE001 - any unpickling failure means a bad file
        raise DataError(f"Corrupted CIFAR batch {path}: {type(exc).__name__}: "
                        f"{' '.join(str(exc).split())}; "
                        "expected a python pickle of a dict; hint: delete it and download "
                        "it again") from exc
    if not isinstance(obj, dict):
        raise DataError(f"Corrupted CIFAR batch {path}: got a {type(obj).__name__}; expected "
                        "a dict with b'data' and labels; hint: delete it and download it again")
    return {(k.decode() if isinstance(k, bytes) else k): v for k, v in obj.items()}


def read_cifar_batches(paths: list[Path], label_key: str) -> tuple[np.ndarray, np.ndarray]:
    """CIFAR python batches concatenated: images ``(N, 3, 32, 32)`` uint8, labels int64."""
    xs, ys = [], []
    for path in paths:
        batch = _load_pickle(path)
        if "data" not in batch or label_key not in batch:
            raise DataError(f"Corrupted CIFAR batch {path}: keys {sorted(batch)}; expected "
                            f"'data' and '{label_key}'; hint: CIFAR-10 uses 'labels', "
                            "CIFAR-100 'fine_labels'")
        x = np.asarray(batch["data"])
        y = np.asarray(batch[label_key], dtype=np.int64)
        if x.dtype != np.uint8 or x.ndim != 2 or x.shape[1] != 3 * 32 * 32:
            raise DataError(f"Corrupted CIFAR batch {path}: data {x.dtype} {x.shape}; "
                            "expected uint8 (N, 3072); hint: delete it and download it again")
        if x.shape[0] != y.shape[0]:
            raise DataError(f"Image/label count mismatch in CIFAR batch {path}: "
                            f"{x.shape[0]} images, {y.shape[0]} labels; expected equal "
                            "counts; hint: delete it and download it again")
        xs.append(x.reshape(-1, 3, 32, 32))
        ys.append(y)
    return np.concatenate(xs), np.concatenate(ys)


def extract_tar(archive: Path, dest: Path) -> None:
    """Extract a .tar.gz into ``dest``, refusing members that would land outside it."""
    dest = Path(dest).resolve()
    try:
        with tarfile.open(archive, "r:*") as tar:
            members = tar.getmembers()
            for m in members:
                target = (dest / m.name).resolve()
                if not (m.isfile() or m.isdir()) or dest not in (target, *target.parents):
                    raise DataError(f"Unsafe member {m.name!r} in archive {archive}; expected "
                                    "plain files under one folder; hint: the download is "
                                    "not the official archive")
            extra: dict[str, Any] = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
            tar.extractall(dest, members=members, **extra)  # members checked above
    except (tarfile.TarError, EOFError, OSError, zlib.error) as exc:
        raise DataError(f"Corrupted archive {archive}: {exc}; expected a complete .tar.gz; "
                        "hint: delete it and download it again") from exc
