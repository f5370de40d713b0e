"""Datasets as in-memory tensors: the built-ins, your own files, synthetic data.

- :mod:`.builtin`: MNIST, Fashion-MNIST, KMNIST, CIFAR-10/100 (found on disk or
  downloaded), ``load(name)``;
- :mod:`.dataset`: the :class:`Dataset` every source returns, ``synthetic(...)``;
- :mod:`.custom`: ``.npz``, ``.pt``, an image folder, ``MODULE:FACTORY``;
- :mod:`.formats` (IDX, CIFAR pickles, tar), :mod:`.fetch` (downloads),
  :mod:`.cache` (a sweep's data, loaded once per process, and its identity).
"""

from __future__ import annotations

from initlab.lab.data.builtin import (
           DATASETS,
           DatasetSpec,
           datasets,
           load,
           locate,
           search_dirs,
           spec,
)
from initlab.lab.data.cache import data_identity, load_data
from initlab.lab.data.custom import fingerprint, from_arrays, is_custom, load_custom
from initlab.lab.data.dataset import SYNTHETIC, Dataset, synthetic

__all__ = ["Dataset", "DatasetSpec", "DATASETS", "SYNTHETIC", "load", "synthetic", "datasets",
           "locate", "search_dirs", "spec", "load_data", "data_identity", "fingerprint",
           "from_arrays", "is_custom", "load_custom"]
