"""Shared helpers of the issue-6 reproductions (fixup-deep, zero-rank, deep-cnn, ...).

Data: real Fashion-MNIST when it is installed (first examples for subsets), else the
synthetic dataset with a note saying so; models built under a seeded global RNG and then
initialized explicitly; small formatting helpers for the checks' ``measured`` strings; and
``save`` writing ``result.json`` into ``ctx.out`` when one is given.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from initlab.lab.data import Dataset, locate, synthetic
from initlab.lab.sweep import load_data
from initlab.reproductions._base import Context, Result

__all__ = ["get_data", "as_train_eval", "pool_images", "accuracy", "tail_mean", "mean", "sem",
           "fmt", "fmt_list", "save", "rank"]


def get_data(ctx: Context, n_train: int | None = None, n_test: int | None = None,
             *, synthetic_shape: tuple[int, ...] = (1, 28, 28), seed: int = 0
             ) -> tuple[Dataset, str]:
    """(dataset, note): ``ctx.dataset`` or Fashion-MNIST, first ``n_train``/``n_test``
    examples; synthetic data of the same shape when Fashion-MNIST is not installed."""
    name = ctx.dataset or "fashion-mnist"
    if name == "synthetic" or (not ctx.dataset and locate(name, ctx.data_dir) is None):
        n_tr = n_train or 8192
        n_te = 2048 if n_test is None else n_test
        data = synthetic(n_tr, n_te, synthetic_shape, 10, seed=seed, noise=2.0)
        note = "synthetic data (Fashion-MNIST not installed: apt install dataset-fashion-mnist)"
        return data, note if name != "synthetic" else "synthetic data (as asked)"
    data = load_data(name, ctx.data_dir, n_train, n_test, progress=False)
    return data, f"{data.name}: {len(data.train_y)} train / {len(data.test_y)} test examples"


def as_train_eval(data: Dataset) -> Dataset:
    """The same dataset whose evaluation split is its training split (training accuracy)."""
    return replace(data, test_x=data.train_x, test_y=data.train_y)


def pool_images(data: Dataset, factor: int) -> Dataset:
    """Images average-pooled by ``factor`` (28x28 -> 14x14 for factor 2), re-standardized."""
    if factor == 1:
        return data

    train = F.avg_pool2d(data.train_x, factor)
    mu, sd = train.mean(), train.std()

    def pool(x: torch.Tensor) -> torch.Tensor:
        return (F.avg_pool2d(x, factor) - mu) / sd if len(x) else F.avg_pool2d(x, factor)

    shape = (data.input_shape[0], data.input_shape[1] // factor, data.input_shape[2] // factor)
    return replace(data, train_x=(train - mu) / sd, test_x=pool(data.test_x),
                   input_shape=shape)


@torch.no_grad()
def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch: int = 1024) -> float:
    """Fraction of ``x`` classified as ``y`` (eval mode, restored afterwards)."""
    was = model.training
    model.eval()
    correct = 0
    for i in range(0, len(y), batch):
        correct += int((model(x[i:i + batch]).argmax(1) == y[i:i + batch]).sum())
    model.train(was)
    return correct / max(len(y), 1)


def variant(ctx: Context, variants: Mapping[bool, Mapping[str, Any]]) -> dict[str, Any]:
    """A copy of ``variants[ctx.fast]`` (the fast or full settings), with ``seeds`` replaced by
    ``ctx.seeds`` when the user gave ``--seeds``."""
    cfg = dict(variants[bool(ctx.fast)])
    if ctx.seeds:
        cfg["seeds"] = int(ctx.seeds)
    return cfg


def minibatches(n: int, batch: int, generator: torch.Generator) -> Iterator[torch.Tensor]:
    """Endless batch indices: a fresh permutation of ``range(n)`` whenever one runs out
    (a partial last batch is dropped), drawn from ``generator``."""
    perm, pos = torch.randperm(n, generator=generator), 0
    while True:
        if pos + batch > n:
            perm, pos = torch.randperm(n, generator=generator), 0
        yield perm[pos:pos + batch]
        pos += batch


def descend(opt: torch.optim.Optimizer, loss: torch.Tensor) -> torch.Tensor:
    """One optimizer step on ``loss`` (gradients cleared first); returns ``loss``."""
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    return loss


def tail_mean(values: Iterable[float], n: int = 50) -> float:
    """Mean of the last ``n`` values (nan when empty)."""
    vals = list(values)[-n:]
    return sum(vals) / len(vals) if vals else math.nan


def mean(values: Iterable[float]) -> float:
    vals = [float(v) for v in values]
    return sum(vals) / len(vals) if vals else math.nan


def sem(values: Iterable[float]) -> float:
    """Standard error of the mean (0 for a single value)."""
    vals = [float(v) for v in values]
    if len(vals) < 2:
        return 0.0
    m = mean(vals)
    return math.sqrt(sum((v - m) ** 2 for v in vals) / (len(vals) - 1) / len(vals))


def fmt(v: float | None, digits: int = 3) -> str:
    """A number for a ``measured`` string: fixed point, or scientific when tiny or huge."""
    if v is None or not math.isfinite(v):
        return str(v)
    if v != 0 and (abs(v) < 10 ** -digits or abs(v) >= 1e5):
        return f"{v:.2e}"
    return f"{v:.{digits}f}"


def fmt_list(values: Iterable[float | None], digits: int = 3) -> str:
    return "[" + ", ".join(fmt(v, digits) for v in values) + "]"


def rank(matrix: torch.Tensor) -> int:
    """Numerical rank in float64 with float32's tolerance: s > s_max * max(m, n) * eps32."""
    s = torch.linalg.svdvals(matrix.detach().double())
    if s.numel() == 0 or float(s[0]) == 0.0:
        return 0
    tol = float(s[0]) * max(matrix.shape) * torch.finfo(torch.float32).eps
    return int((s > tol).sum())


def save(ctx: Context, result: Result) -> None:
    """Write ``result.json`` into ``ctx.out`` (created) when the context has one."""
    if ctx.out:
        out = Path(ctx.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "result.json").write_text(json.dumps(result.to_dict(), indent=1, default=str))
