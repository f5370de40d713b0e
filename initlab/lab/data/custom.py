"""Your own data as a lab dataset: ``.npz``, ``.pt``, an image folder, ``MODULE:FACTORY``.

``load_custom(source)`` returns the same in-memory :class:`~initlab.lab.data.dataset.Dataset` as the
built-ins. What each source holds:

- ``path.npz``: arrays ``x_train``, ``y_train``, ``x_test``, ``y_test``;
- ``path.pt`` / ``path.pth``: a dict of those four tensors (``torch.load``, weights only);
- a folder with ``train/`` and ``test/`` sub-folders of one sub-folder per class (or just
  class sub-folders: then every fifth image, in sorted order, is the test split), images
  read with Pillow (grayscale kept, others RGB, all resized to the first image's size);
- ``MODULE:FACTORY`` (or ``file.py:FACTORY``): a function returning that dict or the
  4-tuple ``(x_train, y_train, x_test, y_test)``; the current folder is importable.

Inputs: ``(N, C, H, W)`` images, ``(N, H, W)`` (one channel added) or ``(N, D)`` features.
uint8 images are scaled to [0, 1]; every input is standardized per channel (per feature
column for ``(N, D)``) with the training split's mean and std. Labels are integers
``0..K-1``; ``K`` is the largest label + 1. :func:`fingerprint` hashes the tensors: a run's
identity records it, so two datasets are never mixed in one experiment.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from initlab.errors import ConfigError, DataError
from initlab.lab.data.dataset import Dataset

__all__ = ["is_custom", "load_custom", "fingerprint", "from_arrays", "LOADERS"]

_KEYS = ("x_train", "y_train", "x_test", "y_test")
_IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"}


def _tensor(v: Any, what: str, source: str) -> torch.Tensor:
    try:
        return torch.as_tensor(np.asarray(v) if not isinstance(v, torch.Tensor) else v)
    except (TypeError, ValueError) as exc:
        raise DataError(f"{what} in {source} is not an array ({type(v).__name__}); expected "
                        f"a numeric array; hint: save numpy arrays or tensors ({exc})") from None


def _standardize(train: torch.Tensor, test: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    dims = (0,) if train.dim() == 2 else (0, 2, 3)
    mean = train.mean(dim=dims, keepdim=True)
    std = train.std(dim=dims, keepdim=True).clamp_min(1e-8)
    return (train - mean) / std, (test - mean) / std


def from_arrays(parts: dict[str, Any], source: str, name: str | None = None) -> Dataset:
    """A Dataset from ``{x_train, y_train, x_test, y_test}`` (see the module docstring).

    Args:
        parts: the four arrays or tensors.
        source: where they came from (shown in errors and recorded with each run).
        name: the dataset's name (default: ``source``).

    Returns:
        A :class:`~initlab.lab.data.dataset.Dataset`.
    """
    missing = [k for k in _KEYS if k not in parts]
    if missing:
        raise DataError(f"{source} lacks {missing}; got keys {sorted(parts)}; expected "
                        f"{list(_KEYS)}; hint: np.savez(path, x_train=..., y_train=..., "
                        "x_test=..., y_test=...)")
    t = {k: _tensor(parts[k], k, source) for k in _KEYS}
    xs = {}
    for split in ("train", "test"):
        x, y = t[f"x_{split}"], t[f"y_{split}"]
        if x.dim() == 3:
            x = x.unsqueeze(1)
        if x.dim() not in (2, 4):
            raise DataError(f"x_{split} in {source} has shape {tuple(x.shape)}; expected "
                            "(N, C, H, W), (N, H, W) or (N, D); hint: one example per row")
        if y.dim() != 1 or len(y) != len(x):
            raise DataError(f"y_{split} in {source} has shape {tuple(y.shape)} for "
                            f"{len(x)} inputs; expected ({len(x)},) integer labels")
        if y.is_floating_point() and not torch.equal(y, y.round()):
            raise DataError(f"y_{split} in {source} holds non-integer labels; expected class "
                            "indices 0..K-1; hint: np.unique(y, return_inverse=True)")
        xs[split] = x.to(torch.float32) / (255.0 if x.dtype == torch.uint8 else 1.0)
    if len(xs["train"]) == 0:
        raise DataError(f"x_train in {source} is empty; expected at least one example")
    if xs["train"].shape[1:] != xs["test"].shape[1:]:
        raise DataError(f"x_train and x_test in {source} differ in shape: "
                        f"{tuple(xs['train'].shape[1:])} vs {tuple(xs['test'].shape[1:])}; "
                        "expected one example shape")
    y_train, y_test = t["y_train"].to(torch.int64), t["y_test"].to(torch.int64)
    lo = min(int(y_train.min()), int(y_test.min()) if len(y_test) else 0)
    if lo < 0:
        raise DataError(f"Negative label {lo} in {source}; expected class indices 0..K-1")
    classes = max(int(y_train.max()), int(y_test.max()) if len(y_test) else 0) + 1
    if classes < 2:
        raise DataError(f"{source} has one class only; expected labels of at least 2 classes")
    train_x, test_x = _standardize(xs["train"], xs["test"])
    return Dataset(name or source, train_x.contiguous(), y_train, test_x.contiguous(), y_test,
                   classes, tuple(train_x.shape[1:]), source)


def _npz(path: Path) -> dict:
    try:
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except (OSError, ValueError, EOFError) as exc:
        raise DataError(f"Cannot read {path} as .npz ({exc}); expected np.savez output with "
                        f"{list(_KEYS)}") from None


def _pt(path: Path) -> dict:
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unpickling problem is the file's
        raise DataError(f"Cannot read {path} with torch.load ({type(exc).__name__}: "
                        f"{str(exc)[:120]}); expected torch.save({{'x_train': ..., ...}})"
                        ) from None
    return _as_parts(obj, str(path))


def _as_parts(obj: Any, source: str) -> dict[str, Any]:
    if isinstance(obj, (tuple, list)) and len(obj) == 4:
        return dict(zip(_KEYS, obj))
    if isinstance(obj, dict):
        return obj
    raise DataError(f"{source} gave a {type(obj).__name__}; expected a dict with "
                    f"{list(_KEYS)} or a 4-tuple (x_train, y_train, x_test, y_test)")


def _images(folder: Path) -> tuple[list[Path], list[int], list[str]]:
    classes = sorted(p.name for p in folder.iterdir() if p.is_dir())
    files, labels = [], []
    for k, c in enumerate(classes):
        for f in sorted((folder / c).iterdir()):
            if f.suffix.lower() in _IMAGE_SUFFIXES:
                files.append(f)
                labels.append(k)
    return files, labels, classes


def _read_images(files: list[Path], size: tuple[int, int], mode: str) -> np.ndarray:
    from PIL import Image

    out = []
    for f in files:
        try:
            with Image.open(f) as im:
                im = im.convert(mode)
                out.append(np.asarray(im.resize(size) if im.size != size else im))
        except OSError as exc:
            raise DataError(f"Cannot read image {f} ({exc}); expected an image file") from None
    arr = np.stack(out)
    return arr[:, None] if arr.ndim == 3 else arr.transpose(0, 3, 1, 2)


def _folder(path: Path) -> dict:
    from PIL import Image

    split = (path / "train").is_dir() and (path / "test").is_dir()
    if split:
        train_f, train_y, classes = _images(path / "train")
        test_f, test_y, test_classes = _images(path / "test")
        if test_classes != classes:
            raise DataError(f"{path}/train and {path}/test have different class folders: "
                            f"{classes} vs {test_classes}; expected the same classes")
    else:
        files, labels, classes = _images(path)
        test_f = files[4::5]
        test_y = labels[4::5]
        train_f = [f for i, f in enumerate(files) if i % 5 != 4]
        train_y = [y for i, y in enumerate(labels) if i % 5 != 4]
    if len(classes) < 2 or not train_f:
        raise DataError(f"Image folder {path} has {len(classes)} class folder(s) with "
                        f"{len(train_f)} training images; expected one sub-folder per class "
                        "(at least 2) holding images, optionally under train/ and test/")
    with Image.open(train_f[0]) as first:
        size, mode = first.size, ("L" if first.mode in ("L", "1", "I", "F") else "RGB")
    return {"x_train": _read_images(train_f, size, mode), "y_train": np.array(train_y),
            "x_test": _read_images(test_f, size, mode) if test_f else
            np.zeros((0, 1 if mode == "L" else 3, size[1], size[0]), np.uint8),
            "y_test": np.array(test_y, dtype=np.int64)}


def _factory(spec: str) -> dict:
    from initlab.lab.model_sources import import_factory

    fn = import_factory(spec)
    return _as_parts(fn(), spec)


LOADERS: dict[str, Callable[[Path], dict]] = {".npz": _npz, ".pt": _pt, ".pth": _pt}


def is_custom(name: str) -> bool:
    """Whether ``--dataset`` names a file, a folder or a ``MODULE:FACTORY`` (not a built-in)."""
    p = Path(name).expanduser()
    return p.suffix.lower() in LOADERS or p.is_dir() or (":" in name and not p.exists())


def load_custom(name: str) -> Dataset:
    """Load ``name`` (see the module docstring) as a :class:`~initlab.lab.data.dataset.Dataset`."""
    path = Path(name).expanduser()
    if path.suffix.lower() in LOADERS:
        if not path.is_file():
            raise DataError(f"Dataset file {name} not found; expected an existing "
                            f"{path.suffix} file; hint: check the path (relative to "
                            f"{Path.cwd()})")
        parts = LOADERS[path.suffix.lower()](path)
        source = str(path.resolve())
    elif path.is_dir():
        parts, source = _folder(path), str(path.resolve())
    elif ":" in name:
        parts, source = _factory(name), name
    else:
        raise ConfigError(f"Dataset {name!r} is neither a built-in, a .npz/.pt file, an image "
                          "folder nor MODULE:FACTORY; hint: `initlab data` lists the built-ins")
    return from_arrays(parts, source, name=name)


def fingerprint(data: Dataset) -> str:
    """blake2b (16 hex digits) of a Dataset's four tensors, shapes included.

    The tensors' memory is hashed in place (no copy: Fashion-MNIST's 188 MB of float
    images hash in ~0.25 s instead of ~0.47 s)."""
    h = hashlib.blake2b(digest_size=8)
    for t in (data.train_x, data.train_y, data.test_x, data.test_y):
        t = t.detach().cpu().contiguous()
        h.update(repr((tuple(t.shape), str(t.dtype))).encode())
        if t.numel():
            h.update(t.view(torch.uint8).numpy().data)
    return h.hexdigest()
