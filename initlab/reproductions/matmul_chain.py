"""The 100-layer matrix-product experiment (Dellinger, "Weight initialization in neural
networks: a journey from the basics to Kaiming"): x ~ N(0, 1) of size ``width`` multiplied
by ``depth`` random ``width x width`` matrices, with an optional activation after each.

:func:`matmul_chain` runs one chain and returns the std after every layer and the index of
the first layer whose output is not finite. Layers are indexed from 0 (layer i is the
output of the (i+1)-th product, the loop index of the original code and the ``depth`` of
the Linear layer in ``diagnose(chain_model(...))``). :data:`CASES` are the published claims, each
checked over several seeds by :func:`chain_checks` (the ``matmul-chain`` scenario).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import torch
from torch import nn

from initlab.errors import ConfigError, UnknownNameError
from initlab.reproductions._base import Context, Result, scenario
from initlab.reproductions._claims import every_seed

__all__ = [
    "ChainResult", "ChainCase", "CASES", "matmul_chain", "chain_model", "chain_checks", "run",
]

_V = TypeVar("_V")

# init name -> (base draw, scale(width, std)): the weight is scale * base, base drawn
# N(0, 1) ("normal") or U(-1, 1) ("uniform"); the same laws as torch.nn.init's normal_,
# xavier_uniform_ and kaiming_normal_(nonlinearity="relu") on a square matrix.
INITS: dict[str, tuple[str, Callable[[int, float], float]]] = {
    "normal": ("normal", lambda n, std: std),
    "xavier": ("uniform", lambda n, std: math.sqrt(6.0 / (2 * n))),
    "kaiming": ("normal", lambda n, std: math.sqrt(2.0 / n)),
}
_BASES: dict[str, Callable[[int, torch.Generator], torch.Tensor]] = {
    "normal": lambda n, g: torch.randn(n, n, generator=g),
    "uniform": lambda n, g: torch.rand(n, n, generator=g).mul_(2).sub_(1),
}
ACTIVATIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "linear": lambda t: t,
    "tanh": torch.tanh,
    "relu": torch.relu,
}
_MODULES: dict[str, Callable[[], nn.Module]] = {"tanh": nn.Tanh, "relu": nn.ReLU}


def _lookup(table: Mapping[str, _V], kind: str, name: str) -> _V:
    if name not in table:
        raise UnknownNameError(f"Unknown {kind} '{name}' for the matmul chain; expected one of "
                               f"{sorted(table)}")
    return table[name]


@dataclass(frozen=True)
class ChainResult:
    """Std of the activations after each layer (from layer 0); first non-finite layer index."""

    stds: list[float]
    first_nonfinite: int | None

    @property
    def final_std(self) -> float:
        return self.stds[-1]


def _run_chains(configs: list[tuple[str, float, str]], *, depth: int, width: int,
                seed: int) -> list[ChainResult]:
    """Several chains from one seed at once: same x, same base draws, scaled per chain."""
    if depth < 1 or width < 1:
        raise ConfigError(f"matmul_chain needs depth >= 1 and width >= 1; got depth={depth}, "
                          f"width={width}")
    plans = []
    for init, std, activation in configs:
        base, scale = _lookup(INITS, "init", init)
        plans.append((base, scale(width, std), _lookup(ACTIVATIONS, "activation", activation)))
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(width, generator=g)
    # chains sharing a base draw advance together: one (width x chains) product per layer
    groups = {base: [i for i, p in enumerate(plans) if p[0] == base] for base in _BASES}
    scales = torch.tensor([p[1] for p in plans])
    acts = x.unsqueeze(1).repeat(1, len(plans))
    stds = torch.empty(depth, len(plans), dtype=torch.float64)
    first_bad: list[int | None] = [None] * len(plans)
    for layer in range(depth):
        for base, draw in _BASES.items():
            w = draw(width, g)  # drawn every layer: a chain's values do not depend on others
            idx = groups[base]
            if idx:
                acts[:, idx] = (w @ acts[:, idx]) * scales[idx]
        for i, (_, _, act) in enumerate(plans):
            acts[:, i] = act(acts[:, i])
        finite = torch.isfinite(acts).all(dim=0).tolist()
        for i, ok in enumerate(finite):
            if not ok and first_bad[i] is None:
                first_bad[i] = layer
        stds[layer] = acts.to(torch.float64).std(dim=0)
    return [ChainResult(stds[:, i].tolist(), first_bad[i]) for i in range(len(plans))]


def matmul_chain(init: str = "normal", *, std: float = 1.0, activation: str = "linear",
                 depth: int = 100, width: int = 512, seed: int = 0) -> ChainResult:
    """Run one chain ``a <- act(W_l a)`` for l = 0..depth-1, in float32, from ``seed``.

    ``init``: ``normal`` (N(0, std^2)), ``xavier`` (Glorot uniform), ``kaiming`` (He normal,
    fan_in, ReLU gain); ``activation``: ``linear``, ``tanh``, ``relu``.
    """
    return _run_chains([(init, std, activation)], depth=depth, width=width, seed=seed)[0]


def chain_model(init: str = "normal", *, std: float = 1.0, activation: str = "linear",
                depth: int = 100, width: int = 512, seed: int = 0) -> nn.Sequential:
    """The same chain as an ``nn.Sequential`` of bias-free Linear layers (for diagnose)."""
    base, scale = _lookup(INITS, "init", init)
    _lookup(ACTIVATIONS, "activation", activation)
    g = torch.Generator().manual_seed(seed)
    layers: list[nn.Module] = []
    for _ in range(depth):
        lin = nn.Linear(width, width, bias=False)
        with torch.no_grad():
            if base == "normal":
                lin.weight.normal_(0.0, scale(width, std), generator=g)
            else:
                bound = scale(width, std)
                lin.weight.uniform_(-bound, bound, generator=g)
        layers.append(lin)
        if activation in _MODULES:
            layers.append(_MODULES[activation]())
    return nn.Sequential(*layers)


@dataclass(frozen=True)
class ChainCase:
    """One claim: a chain configuration and a test on its per-seed results."""

    claim: str
    init: str
    std: float
    activation: str
    holds: Callable[[list[ChainResult]], bool]
    measure: Callable[[list[ChainResult]], str]


def _final_range(results: list[ChainResult]) -> str:
    finals = [r.final_std for r in results]
    return f"final std {min(finals):.3g} .. {max(finals):.3g} over {len(results)} seeds"


def _in(lo: float, hi: float) -> Callable[[list[ChainResult]], bool]:
    return lambda rs: all(math.isfinite(r.final_std) and lo <= r.final_std <= hi for r in rs)


CASES: tuple[ChainCase, ...] = (
    ChainCase("N(0,1) weights overflow to non-finite at layer 27 or 28", "normal", 1.0, "linear",
              lambda rs: all(r.first_nonfinite in (27, 28) for r in rs),
              lambda rs: "first non-finite layer " + ", ".join(
                  str(v) for v in sorted({r.first_nonfinite for r in rs}, key=str))),
    ChainCase("std 0.01 weights give exactly 0", "normal", 0.01, "linear",
              lambda rs: all(r.final_std == 0.0 for r in rs), _final_range),
    ChainCase("std sqrt(1/512) keeps the std in [0.3, 3]", "normal", math.sqrt(1 / 512),
              "linear", _in(0.3, 3.0), _final_range),
    ChainCase("tanh with N(0, 1/512) ends with std in [0.03, 0.12]", "normal",
              math.sqrt(1 / 512), "tanh", _in(0.03, 0.12), _final_range),
    ChainCase("tanh with Xavier ends with std in [0.03, 0.12]", "xavier", 0.0, "tanh",
              _in(0.03, 0.12), _final_range),
    ChainCase("Xavier + ReLU collapses below 1e-10", "xavier", 0.0, "relu",
              lambda rs: all(r.final_std < 1e-10 for r in rs), _final_range),
    ChainCase("Kaiming + ReLU stays within [0.1, 3]", "kaiming", 0.0, "relu", _in(0.1, 3.0),
              _final_range),
)


def chain_checks(seeds: int = 20, *, depth: int = 100, width: int = 512
                 ) -> list[tuple[str, str, bool]]:
    """(claim, measured, passed) for every case in :data:`CASES` over ``seeds`` seeds."""
    configs = [(c.init, c.std, c.activation) for c in CASES]
    per_seed = [_run_chains(configs, depth=depth, width=width, seed=s) for s in range(seeds)]
    out = []
    for i, case in enumerate(CASES):
        results = [runs[i] for runs in per_seed]
        out.append((case.claim, case.measure(results), bool(case.holds(results))))
    return out


def _record(r: ChainResult) -> dict[str, Any]:
    return {"final_std": r.final_std if math.isfinite(r.final_std) else None,
            "first_nonfinite": r.first_nonfinite}


@scenario(
    "matmul-chain",
    summary="x ~ N(0,1) through 100 layers of 512x512 random matrices: which inits keep the "
            "std of order 1 (N(0,1) overflows, 0.01 vanishes, Xavier+ReLU collapses, Kaiming "
            "holds)",
    source="Dellinger 2019, 'Weight initialization in neural networks: a journey from the "
           "basics to Kaiming'",
    full_runtime="~10 s on 2 CPU cores",
)
def run(ctx: Context) -> Result:
    """Every claim of :data:`CASES`, checked on each of ``ctx.seeds`` (default 20) seeds."""
    seeds = ctx.seeds or 20  # cheap: the fast variant runs all 20 seeds too
    configs = [(c.init, c.std, c.activation) for c in CASES]
    per_seed = [_run_chains(configs, depth=100, width=512, seed=s) for s in range(seeds)]
    checks = []
    for i, case in enumerate(CASES):
        results = {s: runs[i] for s, runs in enumerate(per_seed)}

        def holds(r: ChainResult, case: ChainCase = case) -> bool:
            return bool(case.holds([r]))

        checks.append(every_seed(case.claim, results, holds, record=_record,
                                 summary=case.measure(list(results.values()))))
    return Result("matmul-chain", checks, {"seeds": seeds, "depth": 100, "width": 512})
