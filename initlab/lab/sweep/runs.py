"""A sweep's runs and their identity.

A run's identity is (model, model kwargs, dataset and its subset, the data's source and
checksum, init spec, target glob, seed, training config); ``axes``
(:mod:`initlab.lab.sweep.axes`) vary training settings and model arguments over a grid. Its
id is the blake2b hash of that identity as canonical JSON. Re-running a sweep registers the
same ids, skips the finished ones (``done`` or ``diverged``) and trains the rest. Runs of
one seed and one grid point form a *group* (:func:`group_key`): they see the same batches
(``data_seed`` = the seed: common random numbers, so differences come from the init) and
are trained together.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from initlab.errors import ConfigError
from initlab.lab.inits import canonical_init
from initlab.lab.sweep.axes import apply_point, grid
from initlab.lab.train.config import TrainConfig

if TYPE_CHECKING:
    from initlab.lab.sweep.config import Sweep

__all__ = ["RunSpec", "run_id", "plan_runs", "group_key"]


@dataclass(frozen=True)
class RunSpec:
    """One run of a sweep: its id, identity, init (label and canonical spec) and seed.

    Examples:
        >>> ident = {"model": "mlp", "seed": 0}
        >>> RunSpec(run_id(ident), ident, "zeros", "zeros", 0).record()["init_label"]
        'zeros'
    """

    id: str
    identity: dict[str, Any]
    init_label: str
    init_spec: str
    seed: int

    def record(self) -> dict[str, Any]:
        """The row :meth:`~initlab.lab.sweep.store.Store.register` stores.

        Returns:
            ``{"id", "identity", "init_label", "init_spec", "seed"}``.
        """
        return {"id": self.id, "identity": self.identity, "init_label": self.init_label,
                "init_spec": self.init_spec, "seed": self.seed}


def run_id(identity: dict[str, Any]) -> str:
    """The id of a run: blake2b (24 hex digits) of its identity as canonical JSON.

    Args:
        identity: the run's identity.

    Returns:
        The id; equal identities give equal ids on any machine.

    Examples:
        >>> run_id({"b": 1, "a": 2}) == run_id({"a": 2, "b": 1})
        True
        >>> len(run_id({}))
        24
    """
    blob = json.dumps(identity, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.blake2b(blob, digest_size=12).hexdigest()


def plan_runs(sweep: Sweep, data_id: dict[str, Any] | None = None) -> list[RunSpec]:
    """Every run of the sweep: seed-major, then the axes' grid points, then the inits in
    the order of ``sweep.inits``.

    Args:
        sweep: the sweep.
        data_id: ``{"source", "checksum"}`` of the loaded data; it joins each identity, so
            runs on other data are other runs, never resumed or pooled.

    Returns:
        The runs.

    Raises:
        ConfigError: a grid point gives an invalid training config.

    Examples:
        >>> from initlab.lab.sweep.config import Sweep
        >>> runs = plan_runs(Sweep(inits=["zeros", "xavier_normal"], seeds=2,
        ...                        axes={"lr": [0.1, 0.01]}))
        >>> len(runs), [(r.seed, r.identity["train"]["lr"], r.init_label) for r in runs][:3]
        (8, [(0, 0.1, 'zeros'), (0, 0.1, 'xavier_normal'), (0, 0.01, 'zeros')])
    """
    inits = sweep.inits
    pairs = inits.items() if isinstance(inits, dict) else ((i, i) for i in inits)
    specs = {label: canonical_init(init) for label, init in pairs}
    labels = list(specs)
    base = sweep.train.to_dict()
    base.pop("device", None)  # where it ran is the environment, not the identity
    points = []
    for point in grid(sweep.axes):
        train, kwargs = apply_point(base, sweep.model_kwargs, point)
        try:
            TrainConfig.from_dict(train)
        except ConfigError as exc:
            raise ConfigError(f"--sweep point {point} is invalid: {exc}") from None
        points.append((train, kwargs))
    runs = []
    for seed in sweep.seed_list:
        for train, kwargs in points:
            for label in labels:
                identity = {"model": sweep.model, "model_kwargs": kwargs,
                            "dataset": sweep.dataset, "n_train": sweep.n_train,
                            "n_test": sweep.n_test, "init": specs[label],
                            "target": sweep.target, "seed": seed, "train": train}
                if data_id is not None:
                    identity["data"] = data_id
                runs.append(RunSpec(run_id(identity), identity, label, specs[label], seed))
    return runs


def group_key(identity: dict[str, Any]) -> str:
    """Runs with equal keys train together (one seed, one config, several inits): decided
    by the sweep alone, never by the machine.

    Args:
        identity: a run's identity.

    Returns:
        The identity without its init, as canonical JSON.

    Examples:
        >>> group_key({"init": "zeros", "seed": 1}) == group_key({"init": "ones", "seed": 1})
        True
    """
    return json.dumps({k: v for k, v in identity.items() if k != "init"}, sort_keys=True)
