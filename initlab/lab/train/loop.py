"""The training loop: in-memory batches, common random numbers, few host syncs.

``train(model, data, config, data_seed=...)`` trains one model; ``train_stacked(models, ...)``
trains several models of one architecture at once on the same batches (see
:mod:`initlab.lab.train.stacked`) and returns the same results as training them one by one.

Definitions (what the numbers in a :class:`RunResult` mean):

- The batch order is ``torch.randperm`` from a CPU generator seeded with ``data_seed``, one
  permutation per epoch, the last batch possibly smaller: every run given the same
  ``data_seed`` sees the same batches (common random numbers).
- ``step_losses``: the training loss of every optimizer step (kept on the device and moved
  to the host every ``check_every`` steps). ``epochs[i]``: ``train_loss`` = mean of the
  step losses of that epoch, ``train_acc`` = fraction of that epoch's training examples
  classified correctly *at the time of their step*, ``test_loss`` / ``test_acc`` = the
  test split after the epoch, evaluated under ``no_grad`` in large batches, and ``step``,
  the global step count at that point. A ``steps`` budget ending mid-epoch adds a last row
  for the partial epoch.
- ``steps_to_target``: the global step count at the first evaluation whose ``test_acc``
  reaches ``target_acc`` (epoch resolution), or None.
- Divergence: the first non-finite step loss ends the run with status ``diverged``;
  ``diverged_at`` is that step, ``step_losses`` stop before it and ``epochs`` keep the
  evaluations made before it (its last good metrics).
- ``grad_norms``: for the first ``grad_norm_steps`` steps, the L2 norm of the gradient of
  every module's own parameters, rows ``{step, layer, value}``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from initlab.errors import ConfigError
from initlab.lab.data.dataset import Dataset
from initlab.lab.train.config import TrainConfig, epoch_limits

__all__ = ["RunResult", "SingleEngine", "StepCallback", "run_loop", "train"]

StepCallback = Callable[[int, int, float], None]
"""Called as ``callback(epoch, global_step, latest_loss)`` every ``check_every`` steps."""

@dataclass
class RunResult:
    """One training run's record (see the module docstring for the definitions)."""

    status: str = "done"                  # "done" | "diverged"
    step_losses: list[float] = field(default_factory=list)
    epochs: list[dict] = field(default_factory=list)
    steps_to_target: int | None = None
    wall_time: float = 0.0
    grad_norms: list[dict] = field(default_factory=list)
    steps: int = 0
    diverged_at: int | None = None
    stacked: int = 1                      # how many models trained together in this run

    @property
    def final(self) -> dict:
        """The last evaluation row ({} when the run diverged before its first one)."""
        return self.epochs[-1] if self.epochs else {}

    def to_dict(self) -> dict:
        return asdict(self)


class SingleEngine:
    """One model, one optimizer: the reference the stacked engine must match."""

    members = 1

    def __init__(self, model: nn.Module, config: TrainConfig, probe: torch.Tensor | None = None):
        self.model = model.to(config.device).train()  # every module, as a step would
        self.channels_last = _use_channels_last(model, config, probe)
        self.opt = config.make_optimizer(list(model.parameters()))
        self.layers = [(name, [p for p in m.parameters(recurse=False) if p.requires_grad])
                       for name, m in model.named_modules()]
        self.layers = [(name or "<root>", ps) for name, ps in self.layers if ps]
        self.layer_names = [name for name, _ in self.layers]

    def train_step(self, x: torch.Tensor, y: torch.Tensor, want_norms: bool
                   ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        if not self.model.training:  # .train() walks every module: only on a change
            self.model.train()
        self.opt.zero_grad(set_to_none=True)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        logits = self.model(x)
        loss = F.cross_entropy(logits, y)
        loss.backward()
        norms = None
        if want_norms:
            norms = torch.stack([
                torch.linalg.vector_norm(torch.stack([
                    torch.linalg.vector_norm(p.grad) if p.grad is not None
                    else p.new_zeros(()) for p in ps]))
                for _, ps in self.layers]).unsqueeze(0)
        self.opt.step()
        correct = (logits.detach().argmax(1) == y).sum()
        return loss.detach().unsqueeze(0), correct.unsqueeze(0), norms

    @torch.no_grad()
    def evaluate(self, x: torch.Tensor, y: torch.Tensor,
                 batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
        self.model.eval()
        loss = x.new_zeros((), dtype=torch.float64)
        correct = torch.zeros((), dtype=torch.int64, device=x.device)
        for i in range(0, len(y), batch_size):
            xb = x[i:i + batch_size]
            if self.channels_last:
                xb = xb.contiguous(memory_format=torch.channels_last)
            logits = self.model(xb)
            loss += F.cross_entropy(logits, y[i:i + batch_size], reduction="sum").double()
            correct += (logits.argmax(1) == y[i:i + batch_size]).sum()
        return loss.unsqueeze(0), correct.unsqueeze(0)

    def freeze(self, k: int) -> None:  # a diverged single run simply stops
        pass

    def finish(self) -> None:
        if self.channels_last:
            self.model.to(memory_format=torch.contiguous_format)  # type: ignore[call-overload]


def _use_channels_last(model: nn.Module, config: TrainConfig,
                       probe: torch.Tensor | None) -> bool:
    """Switch a conv model to NHWC (CPU default: max-pooling measured ~3x faster there).

    Falls back to the contiguous layout when the model's forward rejects it (a ``.view``
    on a permuted tensor, 5-d weights, ...).
    """
    wanted = config.channels_last
    if wanted is None:
        wanted = (torch.device(config.device).type == "cpu"
                  and any(isinstance(m, nn.Conv2d) for m in model.modules()))
    if not wanted or probe is None or probe.dim() != 4:
        return False
    was = model.training
    try:
        model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
        with torch.no_grad():
            model.eval()
            model(probe.to(config.device).contiguous(memory_format=torch.channels_last))
    except RuntimeError:
        model.to(memory_format=torch.contiguous_format)  # type: ignore[call-overload]
        return False
    finally:
        model.train(was)
    return True


def run_loop(engine: Any, data: Dataset, config: TrainConfig, *, data_seed: int,
             progress: StepCallback | None = None) -> list[RunResult]:
    """Train ``engine.members`` models on the same batches; one RunResult per member."""
    k_count = engine.members
    device = torch.device(config.device)
    n = len(data.train_y)
    if n == 0:
        raise ConfigError("The training split is empty; expected at least one example; "
                          "hint: check the dataset or its subset")
    start = time.perf_counter()
    tx, ty = data.train_x.to(device), data.train_y.to(device)
    ex, ey = data.test_x.to(device), data.test_y.to(device)
    results = [RunResult(stacked=k_count) for _ in range(k_count)]
    alive = [True] * k_count
    gen = torch.Generator().manual_seed(int(data_seed))
    n_epochs, total = epoch_limits(config, n)
    step = 0
    norm_rows: list[tuple[int, torch.Tensor]] = []
    for epoch in range(1, n_epochs + 1):
        perm = torch.randperm(n, generator=gen).to(device)
        losses, correct, seen = [], torch.zeros(k_count, dtype=torch.int64, device=device), 0
        pending_from = 0   # index into `losses` not yet moved to the host
        for i in range(0, n, config.batch_size):
            if step >= total or not any(alive):
                break
            idx = perm[i:i + config.batch_size]
            xb, yb = tx.index_select(0, idx), ty.index_select(0, idx)
            want = step < config.grad_norm_steps
            loss, corr, norms = engine.train_step(xb, yb, want)
            step += 1
            losses.append(loss)
            correct += corr
            seen += len(idx)
            if norms is not None:
                norm_rows.append((step, norms.detach()))
            if step % config.check_every == 0 or step == total or i + config.batch_size >= n:
                pending_from = _flush(losses, pending_from, step, results, alive, engine)
                if progress is not None:
                    alive_losses = [r.step_losses[-1] for r, a in zip(results, alive)
                                    if a and r.step_losses]
                    progress(epoch, step, alive_losses[0] if alive_losses else float("nan"))
        if not losses or not any(alive):
            break
        _flush(losses, pending_from, step, results, alive, engine)
        test_loss, test_correct = engine.evaluate(ex, ey, _eval_batch(config, device))
        stacked = torch.stack(losses)                      # (steps in epoch, K)
        row_stats = torch.stack([stacked.double().mean(0), correct.double() / seen,
                                 test_loss / max(len(ey), 1),
                                 test_correct.double() / max(len(ey), 1)], 1).cpu().tolist()
        for k, (tl, ta, el, ea) in enumerate(row_stats):
            if not alive[k]:
                continue
            r = results[k]
            r.epochs.append({"epoch": epoch, "step": step, "train_loss": tl, "train_acc": ta,
                             "test_loss": el if len(ey) else float("nan"),
                             "test_acc": ea if len(ey) else float("nan")})
            if (config.target_acc is not None and r.steps_to_target is None and len(ey)
                    and ea >= config.target_acc):
                r.steps_to_target = step
        if step >= total:
            break
    engine.finish()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    wall = time.perf_counter() - start
    _grad_rows(norm_rows, engine.layer_names, results)
    for k, r in enumerate(results):
        r.wall_time = wall
        r.steps = len(r.step_losses) if not alive[k] else step
    return results


def _eval_batch(config: TrainConfig, device: torch.device) -> int:
    """Test examples per forward pass: ``eval_batch_size``, on CPU at most 4 training
    batches (a seed-cnn evaluation measured 2.6x faster in chunks that stay in cache)."""
    if device.type == "cpu":
        return min(config.eval_batch_size, 4 * config.batch_size)
    return config.eval_batch_size


def _flush(losses: list[torch.Tensor], start: int, step: int, results: list[RunResult],
           alive: list[bool], engine: Any) -> int:
    """Move step losses ``losses[start:]`` to the host; mark members that diverged."""
    if start >= len(losses):
        return start
    block = torch.stack(losses[start:]).cpu()          # (new steps, K)
    first_step = step - len(block) + 1
    for k, r in enumerate(results):
        if not alive[k]:
            continue
        col = block[:, k]
        bad = (~torch.isfinite(col)).nonzero()
        if len(bad):
            j = int(bad[0])
            r.step_losses.extend(col[:j].tolist())
            r.status, r.diverged_at, alive[k] = "diverged", first_step + j, False
            engine.freeze(k)
        else:
            r.step_losses.extend(col.tolist())
    return len(losses)


def _grad_rows(norm_rows: list[tuple[int, torch.Tensor]], names: list[str],
               results: list[RunResult]) -> None:
    if not norm_rows:
        return
    table = torch.stack([t for _, t in norm_rows]).cpu().tolist()   # (steps, K, layers)
    for (step, _), per_member in zip(norm_rows, table):
        for k, r in enumerate(results):
            if r.diverged_at is not None and step >= r.diverged_at:
                continue
            r.grad_norms.extend({"step": step, "layer": layer, "value": v}
                                for layer, v in zip(names, per_member[k]))


def train(model: nn.Module, data: Dataset, config: TrainConfig | None = None, *, data_seed: int = 0,
          progress: StepCallback | None = None) -> RunResult:
    """Train ``model`` in place on ``data`` (a :class:`~initlab.lab.data.Dataset`)."""
    config = config or TrainConfig()
    engine = SingleEngine(model, config, probe=data.train_x[:2])
    return run_loop(engine, data, config, data_seed=data_seed, progress=progress)[0]

