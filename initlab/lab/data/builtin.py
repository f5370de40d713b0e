"""Datasets as in-memory tensors: MNIST, Fashion-MNIST, KMNIST, CIFAR-10/100, synthetic, and
your own (``.npz``, ``.pt``, an image folder, ``MODULE:FACTORY``: :mod:`initlab.lab.data.custom`).

``load(name)`` finds the files in this order, first match wins:

1. ``data_dir`` (the ``--data-dir`` option), the folder itself or ``data_dir/<name>``; when
   it is given it is the only place looked (a download goes there; with downloads off a
   ``data_dir`` without the files is an error, never a fall-back to another copy);
2. ``$INITLAB_DATA`` (itself or ``$INITLAB_DATA/<name>``);
3. ``~/.cache/initlab/<name>`` (``$XDG_CACHE_HOME/initlab/<name>`` when that is set);
4. system locations: ``/usr/share/datasets/<name>`` (Debian's ``dataset-fashion-mnist``
   installs Fashion-MNIST there), ``/usr/local/share/datasets/<name>``;
5. a download from the official URLs (progress bar, MD5 check) into ``data_dir``, else
   ``$INITLAB_DATA/<name>``, else the cache folder, unless ``download=False`` or
   ``$INITLAB_OFFLINE=1``.

Missing and not downloadable: one :class:`~initlab.errors.DataError` saying where it
looked and how to get the files. Images become float32 ``(N, C, H, W)`` normalized per
channel with the *training* split's mean and std (or the ones given); labels int64. The
mean and std come from the uint8 pixel histograms (exact, in float64) instead of a pass
over every pixel as float.
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from initlab._core.registry import Registry
from initlab.errors import ConfigError, DataError, UnknownNameError, did_you_mean
from initlab.lab.data import custom as data_custom
from initlab.lab.data import fetch as data_fetch
from initlab.lab.data.dataset import SYNTHETIC, Dataset, synthetic
from initlab.lab.data.formats import extract_tar, read_cifar_batches, read_idx_pair

__all__ = ["DatasetSpec", "DATASETS", "load", "datasets", "locate", "search_dirs", "spec"]

SYSTEM_ROOTS: tuple[Path, ...] = (Path("/usr/share/datasets"), Path("/usr/local/share/datasets"))
_IDX_PARTS = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
              "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


@dataclass(frozen=True)
class DatasetSpec:
    """Where a named dataset's files come from and what they hold."""

    name: str
    title: str
    format: str                          # "idx" | "cifar"
    num_classes: int
    urls: tuple[str, ...]                # mirrors: base URLs ending in "/"
    md5: dict[str, str]                  # downloaded file name -> official MD5
    subdir: str = ""                     # CIFAR: the folder the archive unpacks to
    label_key: str = "labels"            # CIFAR-100: "fine_labels"
    train_files: tuple[str, ...] = ()    # CIFAR batch names
    test_files: tuple[str, ...] = ()
    apt: str | None = None               # Debian package that installs it
    aliases: tuple[str, ...] = ()

    @property
    def required(self) -> tuple[str, ...]:
        return _IDX_PARTS if self.format == "idx" else self.train_files + self.test_files


def _idx(name: str, title: str, urls: tuple[str, ...], md5s: tuple[str, ...],
         apt: str | None = None, aliases: tuple[str, ...] = ()) -> DatasetSpec:
    files = [p + ".gz" for p in _IDX_PARTS]
    return DatasetSpec(name, title, "idx", 10, urls, dict(zip(files, md5s)), apt=apt,
                       aliases=aliases)


def _dataset_key(name: str) -> tuple[str, ...]:
    return (name.strip().lower(),)


#: The built-in datasets by name (any case) and alias, e.g. ``DATASETS.get("FMNIST")``.
DATASETS: Registry[DatasetSpec] = Registry("dataset", normalize=_dataset_key)
for _spec in (
    _idx("mnist", "MNIST", ("https://ossci-datasets.s3.amazonaws.com/mnist/",
                            "http://yann.lecun.com/exdb/mnist/"),
         ("f68b3c2dcbeaaa9fbdd348bbdeb94873", "d53e105ee54ea40749a09fcbcd1e9432",
          "9fb629c4189551a2d022fa330f9573f3", "ec29112dd5afa0611ce80d1b7f02629c")),
    _idx("fashion-mnist", "Fashion-MNIST",
         ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
         ("8d4fb7e6c68d591d4c3dfef9ec88bf0d", "25c81989df183df01b3e8a0aad5dffbe",
          "bef4ecab320f06d8554ea6380940ec79", "bb300cfdad3c16e7a12a480ee83cd310"),
         apt="dataset-fashion-mnist", aliases=("fashion_mnist", "fmnist")),
    _idx("kmnist", "Kuzushiji-MNIST", ("http://codh.rois.ac.jp/kmnist/dataset/kmnist/",),
         ("bdb82020997e1d708af4cf47b453dcf7", "e144d726b3acfaa3e44228e80efcd344",
          "5c965bf0a639b31b8f53240b1b52f4d7", "7320c461ea6c1c855c0b718fb2a4b134")),
    DatasetSpec("cifar10", "CIFAR-10", "cifar", 10, ("https://www.cs.toronto.edu/~kriz/",),
                {"cifar-10-python.tar.gz": "c58f30108f718f92721af3b95e74349a"},
                subdir="cifar-10-batches-py",
                train_files=tuple(f"data_batch_{i}" for i in range(1, 6)),
                test_files=("test_batch",), aliases=("cifar-10",)),
    DatasetSpec("cifar100", "CIFAR-100", "cifar", 100, ("https://www.cs.toronto.edu/~kriz/",),
                {"cifar-100-python.tar.gz": "eb9058c3a382ffc7106e4002c42a8d85"},
                subdir="cifar-100-python", label_key="fine_labels",
                train_files=("train",), test_files=("test",), aliases=("cifar-100",)),
):
    DATASETS.add(_spec.name, _spec, aliases=_spec.aliases)


def datasets() -> list[str]:
    """Names ``load`` accepts: the built-ins and ``synthetic``.

    Returns:
        The built-in names (sorted), then ``synthetic``.

    Examples:
        >>> datasets()
        ['cifar10', 'cifar100', 'fashion-mnist', 'kmnist', 'mnist', 'synthetic']
    """
    return [*DATASETS.names(), SYNTHETIC]


def spec(name: str) -> DatasetSpec:
    """The registry entry of a dataset name or alias.

    Args:
        name: a name or alias, any case (``"FMNIST"``).

    Returns:
        The :class:`DatasetSpec`.

    Raises:
        UnknownNameError: an unknown name, with the closest match.

    Examples:
        >>> spec("FMNIST").name, spec("cifar-10").num_classes
        ('fashion-mnist', 10)
    """
    key = name.strip().lower()
    found = DATASETS.find(name)
    if found is not None:
        return DATASETS.get(found)
    raise UnknownNameError(
        f"Unknown dataset '{name}'.{did_you_mean(key, datasets())} Available: {datasets()}")


def _cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "initlab"


def search_dirs(name: str, data_dir: str | Path | None = None) -> list[Path]:
    """The folders ``locate`` tries for a dataset, in order."""
    s = spec(name)
    dirs: list[Path] = []
    for root in (data_dir, os.environ.get("INITLAB_DATA") or None):
        if root is not None:
            dirs += [Path(root).expanduser(), Path(root).expanduser() / s.name]
    dirs.append(_cache_root() / s.name)
    dirs += [root / s.name for root in SYSTEM_ROOTS]
    return dirs


def _idx_file(folder: Path, part: str) -> Path | None:
    dotted = part[: part.rindex("-")] + "." + part[part.rindex("-") + 1:]
    for candidate in (part + ".gz", part, dotted, dotted + ".gz"):
        if (folder / candidate).is_file():
            return folder / candidate
    return None


def _files_in(s: DatasetSpec, folder: Path) -> list[Path] | None:
    """The dataset's files in ``folder`` (all of them), or None."""
    if s.format == "idx":
        found = [_idx_file(folder, part) for part in _IDX_PARTS]
        return [f for f in found if f is not None] if all(found) else None
    for sub in (folder / s.subdir, folder):
        if all((sub / f).is_file() for f in s.required):
            return [sub / f for f in s.required]
    archive = folder / next(iter(s.md5))
    return [archive] if archive.is_file() else None


def _looked(name: str, data_dir: str | Path | None) -> list[Path]:
    """Where ``locate`` looks: only ``data_dir`` (and ``data_dir/<name>``) when it is given,
    never a silent fall-back to another copy; else every folder of :func:`search_dirs`."""
    dirs = search_dirs(name, data_dir)
    return dirs[:2] if data_dir is not None else dirs


def locate(name: str, data_dir: str | Path | None = None) -> Path | None:
    """The first folder that holds all of the dataset's files, or None (a given
    ``data_dir`` is the only place looked)."""
    s = spec(name)
    for folder in _looked(s.name, data_dir):
        if folder.is_dir() and _files_in(s, folder) is not None:
            return folder
    return None


def _download_dir(s: DatasetSpec, data_dir: str | Path | None) -> Path:
    if data_dir is not None:
        return Path(data_dir).expanduser()
    if os.environ.get("INITLAB_DATA"):
        return Path(os.environ["INITLAB_DATA"]).expanduser() / s.name
    return _cache_root() / s.name


def how_to_get(s: DatasetSpec, data_dir: str | Path | None = None) -> str:
    """One sentence: the apt package (if any), or the URLs and the folder for the files."""
    files = ", ".join(s.md5)
    where = _download_dir(s, data_dir)
    manual = f"download {files} from {s.urls[0]} into {where}"
    return f"`apt-get install {s.apt}`, or {manual}" if s.apt else manual


def _missing(s: DatasetSpec, data_dir: str | Path | None, why: str) -> DataError:
    looked = ", ".join(str(d) for d in _looked(s.name, data_dir))
    where = f" in --data-dir {data_dir}" if data_dir is not None else ""
    return DataError(f"Dataset '{s.name}' not found{where}; looked in: {looked}; {why}; expected "
                     f"the files {', '.join(s.required)} (.gz or plain); "
                     f"hint: {how_to_get(s, data_dir)}")


def _fetch(s: DatasetSpec, data_dir: str | Path | None, show_progress: bool) -> Path:
    folder = _download_dir(s, data_dir)
    try:
        for fname, md5 in s.md5.items():
            if not (folder / fname).is_file():
                urls = [base + fname for base in s.urls]
                data_fetch.download_file(urls, folder / fname, md5, show_progress=show_progress)
    except data_fetch.OfflineError as exc:
        raise _missing(s, data_dir, f"the download failed ({exc})") from None
    except PermissionError as exc:
        raise _missing(s, data_dir, f"cannot write to {folder} ({exc.strerror})") from None
    return folder


def _read(s: DatasetSpec, folder: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    files = _files_in(s, folder)
    if files is None:
        raise DataError(f"Dataset '{s.name}' files vanished from {folder}; expected "
                        f"{', '.join(s.required)}; hint: check the folder")
    if s.format == "idx":  # both splits at once: zlib and file reads release the GIL
        with ThreadPoolExecutor(2, thread_name_prefix="initlab-read") as pool:
            test = pool.submit(read_idx_pair, files[2], files[3])
            return (*read_idx_pair(files[0], files[1]), *test.result())
    if len(files) == 1:  # the archive: unpack next to it, or into the cache if read-only
        target = folder if os.access(folder, os.W_OK) else _cache_root() / s.name
        extract_tar(files[0], target)
        files = _files_in(s, target / s.subdir)
        if files is None or len(files) == 1:
            raise DataError(f"Archive {folder / next(iter(s.md5))} does not hold "
                            f"{s.subdir}/{{{', '.join(s.required)}}}; expected the official "
                            "archive; hint: delete it and download it again")
    n = len(s.train_files)
    return (*read_cifar_batches(files[:n], s.label_key),
            *read_cifar_batches(files[n:], s.label_key))


def _as_tuple(value: Any, channels: int, what: str) -> tuple[float, ...]:
    vals = (float(value),) * channels if isinstance(value, (int, float, str, np.number)) else tuple(float(v) for v in value)
    if len(vals) != channels:
        raise ConfigError(f"normalize {what} has {len(vals)} values; expected 1 or {channels} "
                          f"(one per channel); hint: pass normalize=(mean, std)")
    return vals


def _histograms(x: np.ndarray) -> np.ndarray:
    """Per-channel counts of the 256 pixel values of uint8 images ``(N, C, H, W)``."""
    rows = []
    for c in range(x.shape[1]):
        flat = np.ascontiguousarray(x[:, c]).reshape(-1)  # no copy when there is one channel
        with warnings.catch_warnings():  # only read: a read-only buffer (the file) is fine
            warnings.filterwarnings("ignore", "The given NumPy array is not writable")
            rows.append(torch.bincount(torch.from_numpy(flat), minlength=256).numpy())
    return np.stack(rows) if rows else np.zeros((0, 256), np.int64)


def _stats_u8(x: np.ndarray) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and (population) std of ``x / 255``, from the pixel histograms.

    The same figures as ``torch.var_mean`` over the float images, exactly up to float
    rounding (computed in float64 from 256 counts per channel, instead of a pass over
    every pixel as float).
    """
    values = np.arange(256, dtype=np.float64) / 255.0
    means, stds = [], []
    for counts in _histograms(x).astype(np.float64):
        n = counts.sum()
        mean = float(counts @ values / n) if n else math.nan
        var = float(counts @ (values - mean) ** 2 / n) if n else math.nan
        means.append(mean)
        stds.append(math.sqrt(var))
    return tuple(means), tuple(stds)


def _stats(x: np.ndarray, normalize: Any) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Normalization figures: from the uint8 training images, none, or the ones given."""
    channels = x.shape[1]
    if normalize is True:
        return _stats_u8(x)
    if normalize is False or normalize is None:
        return (0.0,) * channels, (1.0,) * channels
    if not (isinstance(normalize, Sequence) and len(normalize) == 2):
        raise ConfigError(f"normalize must be True, False or (mean, std); got {normalize!r}; "
                          "expected e.g. normalize=((0.286,), (0.353,))")
    mean = _as_tuple(normalize[0], channels, "mean")
    std = _as_tuple(normalize[1], channels, "std")
    if min(std) <= 0:
        raise ConfigError(f"normalize std must be positive; got {std}; expected values > 0; "
                          "hint: std is in [0, 1] pixel units, e.g. 0.353")
    return mean, std


def _normalized(x: np.ndarray, mean: tuple[float, ...], std: tuple[float, ...]) -> torch.Tensor:
    """uint8 images -> float32 ``(x / 255 - mean) / std``, per channel, in torch's
    multi-threaded kernels (the array may be read-only: it is only read)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "The given NumPy array is not writable")
        t = torch.from_numpy(x).to(torch.float32).div_(255.0)
    m = torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1)
    s = torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1)
    return t.sub_(m).div_(s)


def load(name: str, data_dir: str | Path | None = None, *, download: bool = True,
         normalize: Any = True, progress: bool = True) -> Dataset:
    """A named dataset as in-memory tensors (see the module docstring for where it looks).

    ``normalize``: True (per-channel mean/std of the training split), False (scaled to
    [0, 1] only) or ``(mean, std)`` in [0, 1] pixel units, scalars or one per channel.
    ``load("synthetic")`` returns ``synthetic(8192, 2048, (1, 28, 28), 10, seed=0)``.
    """
    if name.strip().lower() == SYNTHETIC:
        return synthetic(8192, 2048, (1, 28, 28), 10, seed=0)
    if name.strip().lower() not in datasets() and data_custom.is_custom(name):
        return data_custom.load_custom(name)
    s = spec(name)
    folder = locate(s.name, data_dir)
    if folder is None:
        if not download or data_fetch.offline():
            why = "download disabled" + (" ($INITLAB_OFFLINE)" if download else "")
            raise _missing(s, data_dir, why)
        folder = _fetch(s, data_dir, progress)
    train_x, train_y, test_x, test_y = _read(s, folder)
    for split, y in (("train", train_y), ("test", test_y)):
        if y.size and (y.min() < 0 or y.max() >= s.num_classes):
            raise DataError(f"Labels out of range in the {split} split of {s.name} in {folder}: "
                            f"got [{y.min()}, {y.max()}]; expected [0, {s.num_classes - 1}]; "
                            "hint: the files belong to another dataset")
    mean, std = _stats(train_x, normalize)
    return Dataset(s.name, _normalized(train_x, mean, std), torch.from_numpy(train_y),
                   _normalized(test_x, mean, std), torch.from_numpy(test_y), s.num_classes,
                   tuple(train_x.shape[1:]), str(folder), mean, std)
