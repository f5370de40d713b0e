"""The data of a sweep, loaded once per process, and its identity (source and checksum)."""

from __future__ import annotations

from pathlib import Path

from initlab.errors import ConfigError
from initlab.lab.data import builtin as data_mod
from initlab.lab.data.custom import fingerprint
from initlab.lab.data.dataset import Dataset

__all__ = ["load_data", "data_identity"]

_DATA_CACHE: dict[tuple[str, str], Dataset] = {}
_DATA_IDS: dict[tuple[str, str], dict[str, str]] = {}


def load_data(dataset: str, data_dir: str | Path | None = None, n_train: int | None = None,
              n_test: int | None = None, *, progress: bool = True) -> Dataset:
    """The dataset (cached per process), cut to its first ``n_train`` / ``n_test`` examples.
    A given ``data_dir`` must hold it (no download, no fall-back elsewhere)."""
    key = (dataset, str(data_dir))
    if data_dir is not None and dataset.strip().lower() not in data_mod.DATASETS:
        try:
            data_mod.spec(dataset)
        except Exception:  # noqa: BLE001 - synthetic or your own data: no folder is read
            raise ConfigError(f"--data-dir {data_dir} given, but dataset {dataset!r} reads no "
                              "folder; expected a built-in dataset name (`initlab data`); "
                              "hint: drop --data-dir, or pass the file as --dataset") from None
    if key not in _DATA_CACHE:  # the whole dataset; subsets are views of it
        _DATA_CACHE.clear()
        _DATA_IDS.clear()
        _DATA_CACHE[key] = data_mod.load(dataset, data_dir, progress=progress,
                                         download=data_dir is None)
    d = _DATA_CACHE[key]
    return d if n_train is None and n_test is None else d.subset(n_train, n_test)


def data_identity(dataset: str, data_dir: str | Path | None = None) -> dict[str, str]:
    """``{"source", "checksum"}`` of the whole loaded dataset (computed once per process)."""
    key = (dataset, str(data_dir))
    load_data(dataset, data_dir, progress=False)
    if key not in _DATA_IDS:
        d = _DATA_CACHE[key]
        _DATA_IDS[key] = {"source": d.source, "checksum": fingerprint(d)}
    return _DATA_IDS[key]
