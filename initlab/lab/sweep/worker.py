"""The worker body: build a run's model, initialize it, train a group, return outcomes.

Runs wherever an executor puts it (this process, a pool process, a Ray worker): it only
reads the data and returns one :class:`~initlab.lab.sweep.tasks.RunOutcome` per run; the
store is written by the dispatch loop alone.

The layers an init does not target keep PyTorch's default init, drawn from initlab's keyed
streams with the run's seed (the ``torch_default`` policy): deterministic, and equal across
the inits of one seed.
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn

from initlab._core.threads import torch_threads
from initlab.errors import ConfigError, InitlabError, error_text
from initlab.lab.data.dataset import Dataset
from initlab.lab.models import build
from initlab.lab.sweep.runs import RunSpec
from initlab.lab.sweep.tasks import GroupTask, RunOutcome
from initlab.lab.train.config import TrainConfig
from initlab.lab.train.loop import StepCallback, train
from initlab.lab.train.stacked import train_stacked
from initlab.policy import Policy, apply

__all__ = ["SWEEP_THREADS", "target_names", "prepare_model", "check_runs", "execute_group",
           "run_group", "sweep_threads"]

SWEEP_THREADS = 2


def target_names(model: nn.Module, target: str | None) -> list[str] | None:
    """Parameter names a ``--target`` glob selects: ``conv1`` means ``conv1`` and ``conv1.*``.

    Args:
        model: the model.
        target: a glob over parameter names, or None (every parameter).

    Returns:
        The selected names, or None for all.

    Raises:
        ConfigError: the glob matches nothing.

    Examples:
        >>> target_names(nn.Sequential(nn.Linear(2, 2), nn.Linear(2, 1)), "1")
        ['1.weight', '1.bias']
    """
    if target is None:
        return None
    names = [n for n, _ in model.named_parameters()]
    hit = [n for n in names if fnmatch.fnmatchcase(n, target)
           or fnmatch.fnmatchcase(n, target + ".*")]
    if not hit:
        raise ConfigError(f"--target {target!r} matches no parameter of {type(model).__name__}; "
                          f"expected a glob over {names}; hint: use a module name like 'conv1'")
    return hit


def prepare_model(identity: dict[str, Any], input_shape: Sequence[int],
                  num_classes: int) -> tuple[nn.Module, dict[str, Any]]:
    """Build a run's model and initialize it.

    Args:
        identity: the run's identity (:func:`~initlab.lab.sweep.runs.plan_runs`).
        input_shape: one example's shape.
        num_classes: the dataset's classes.

    Returns:
        ``(model, plan)``: the initialized model and the full executed Plan as a dict.

    Examples:
        >>> ident = {"model": "mlp", "model_kwargs": {"widths": [8]}, "seed": 0,
        ...          "target": None, "init": "zeros"}
        >>> model, plan = prepare_model(ident, (4,), 3)
        >>> float(model[-1].weight.detach().abs().sum()), plan["rows"][0]["name"]
        (0.0, 'fc1.weight')
    """
    model = build(identity["model"], input_shape, num_classes, **identity["model_kwargs"])
    seed = identity["seed"]
    base = apply(model, "torch_default", seed=seed).to_dict()
    only = target_names(model, identity["target"])
    init: str | Policy = identity["init"]
    if isinstance(init, str) and init.startswith("{"):
        init = Policy.from_dict(json.loads(init))
    plan = apply(model, init, seed=seed, only=only).to_dict()
    if only is not None:  # the full Plan: targeted rows from the init, the rest default
        chosen = {r["name"]: r for r in plan["rows"]}
        rows = [chosen.get(r["name"], r) for r in base["rows"]]
        plan = {**plan, "rows": rows, "meta": {**plan.get("meta", {}), "base": "torch_default"}}
    return model, plan


def check_runs(runs: Sequence[RunSpec], data: Dataset) -> None:
    """Fail early (before anything is recorded) when a model, target or init cannot work:
    every distinct init is applied once to a freshly built model.

    Args:
        runs: the sweep's runs.
        data: its dataset (for the input shape and classes).

    Raises:
        InitlabError: the first run whose model or init cannot be built.
    """
    seen = set()
    for r in runs:
        key = (r.init_spec, json.dumps(r.identity["model_kwargs"], sort_keys=True))
        if key not in seen:
            seen.add(key)
            prepare_model(r.identity, data.input_shape, data.num_classes)


@contextmanager
def sweep_threads(device: str) -> Iterator[None]:
    """On CPU, train a group with :data:`SWEEP_THREADS` intra-op threads whatever the
    machine: the stacked groups (one per thread, :func:`initlab.lab.train.stacked.cpu_groups`)
    and every reduction are then decided by the sweep, so the local executor, ``--workers N``
    and Ray give the same bits on any core count.

    Args:
        device: the training device (threads are only set on CPU).

    Examples:
        >>> with sweep_threads("cpu"):
        ...     torch.get_num_threads() == SWEEP_THREADS
        True
    """
    if torch.device(device).type != "cpu":
        yield
        return
    with torch_threads(SWEEP_THREADS):
        yield


def execute_group(identities: Sequence[dict[str, Any]], data: Dataset, *,
                  stack: bool | str = True, device: str = "cpu",
                  progress: StepCallback | None = None) -> list[RunOutcome]:
    """Train the runs of one group (one seed, one grid point) on the same batches.

    Args:
        identities: the runs' identities.
        data: the dataset.
        stack: ``True``/``"auto"``, ``"always"``, ``False``/``"never"`` (see
            :func:`~initlab.lab.train.stacked.train_stacked`).
        device: where to train.
        progress: called as ``(epoch, step, loss)`` while training.

    Returns:
        One :class:`~initlab.lab.sweep.tasks.RunOutcome` per identity, in order: a
        run whose model cannot be built, or whose training raised, has the error text.

    Raises:
        InitlabError: bad input found while training (it would fail every run).

    Examples:
        >>> from initlab.lab.data.dataset import synthetic
        >>> ident = {"model": "mlp", "model_kwargs": {"widths": [8]}, "seed": 0,
        ...          "target": None, "init": "xavier_normal",
        ...          "train": {"steps": 3, "batch_size": 16}}
        >>> [o.result.steps for o in execute_group([ident], synthetic(64, 16, (4,), 2))]
        [3]
    """
    out: list[RunOutcome | None] = [None] * len(identities)
    models, plans, where = [], [], []
    for i, ident in enumerate(identities):
        try:
            m, p = prepare_model(ident, data.input_shape, data.num_classes)
        except Exception as exc:  # noqa: BLE001 - recorded as the run's error
            out[i] = RunOutcome.failure(error_text(exc))
            continue
        models.append(m)
        plans.append(p)
        where.append(i)
    if models:
        config = TrainConfig.from_dict({**identities[where[0]]["train"], "device": device})
        seed = identities[where[0]]["seed"]
        try:
            mode = "auto" if stack is True else "never" if stack is False else str(stack)
            with sweep_threads(device):
                if mode != "never" and len(models) > 1:
                    results = train_stacked(models, data, config, data_seed=seed,
                                            progress=progress, stack=mode)
                else:
                    results = [train(m, data, config, data_seed=seed, progress=progress)
                               for m in models]
            for i, r, p in zip(where, results, plans):
                out[i] = RunOutcome(result=r, plan=p)
        except InitlabError:
            raise
        except Exception as exc:  # noqa: BLE001
            for i in where:
                out[i] = RunOutcome.failure(error_text(exc))
    return [o if o is not None else RunOutcome.failure("not trained") for o in out]


def run_group(task: GroupTask, data: Dataset,
              progress: StepCallback | None = None) -> list[RunOutcome]:
    """:func:`execute_group` for a :class:`~initlab.lab.sweep.tasks.GroupTask`.

    Args:
        task: the group.
        data: the dataset.
        progress: the step callback.

    Returns:
        One outcome per run of the group.
    """
    return execute_group(task.identities, data, stack=task.stack, device=task.device,
                         progress=progress)
