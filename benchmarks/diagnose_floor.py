"""How cheap could a diagnose be? A lean stand-in next to the real one, batch 64.

The stand-in computes only the core of what ``initlab.diagnose`` reports, in as few
torch calls as its author could manage, with no rows, verdicts, pre-hook checks or
report: one forward with hooks that only keep each leaf's output, one
``autograd.grad`` for every output and parameter, all moments (2-norms by one
``torch._foreach_norm``, sums) read back in one sync, dead / zero counts of the ReLU
outputs, and the two symmetry checks through initlab's own batched functions (activation
units, weight rows). Timed per part and end to end against a plain forward + backward and
against ``initlab.diagnose(..., spectrum="off")``, interleaved, best of ``--repeats``; one
JSON line.

It answers whether the ~2x overhead target is a matter of implementation: if the stand-in
already costs more than 2x, the statistics themselves do.

    .venv/bin/python benchmarks/diagnose_floor.py [--repeats 30]
"""

from __future__ import annotations

import argparse
import collections
import json
import time

import torch
import torch.nn.functional as F
from diagnose_overhead import MODELS, _plain, _time
from torch import nn

import initlab
from initlab.diagnosis.symmetry import duplicate_fractions, symmetries


def lean(model, x, y, parts: collections.Counter | None = None) -> tuple:
    """The stand-in; ``parts`` (if given) accumulates seconds per part."""
    clock = time.perf_counter

    def timed(label, fn):
        t0 = clock()
        out = fn()
        if parts is not None:
            parts[label] += clock() - t0
        return out

    leaves = [m for _, m in model.named_modules() if next(m.children(), None) is None]
    outs: list[tuple[nn.Module, torch.Tensor]] = []
    handles = [m.register_forward_hook(lambda m, a, o: outs.append((m, o))) for m in leaves]
    try:
        out = timed("forward", lambda: model(x))
    finally:
        for h in handles:
            h.remove()
    loss = F.cross_entropy(out, y)
    params = list(model.parameters())
    wanted = [o for _, o in outs if o.requires_grad] + params
    grads = timed("backward", lambda: torch.autograd.grad(loss, wanted, allow_unused=True))
    acts = [o.detach() for m, o in outs if isinstance(m, nn.ReLU)]

    def moments():
        tensors = ([o.detach() for _, o in outs] + [g for g in grads if g is not None]
                   + [p.detach() for p in params])
        counts = []
        for a in acts:
            nonzero = a != 0
            counts += [nonzero.any(0).sum(), nonzero.sum()]
        return torch.stack(list(torch._foreach_norm(tensors)) + [t.sum() for t in tensors]
                           + [c.float() for c in counts]).tolist()

    stats = timed("moments", moments)
    units = timed("unit_symmetry", lambda: duplicate_fractions(
        [a.flatten(1).t() for a in acts], skip_zero=True, finite=True))
    linears = [m for m in leaves if isinstance(m, nn.Linear)]
    rows = timed("row_symmetry", lambda: symmetries(
        [(m.weight, m.bias, None, None, True, False, None) for m in linears]))
    return stats, units, rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=30)
    args = ap.parse_args()
    torch.set_num_threads(1)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(64, 1, 28, 28, generator=g)
    y = torch.randint(0, 10, (64,), generator=g)
    out = {"benchmark": "diagnose_floor", "batch": 64, "threads": 1, "repeats": args.repeats,
           "models": {}}
    for name in ("mlp-784-512-256-10", "mlp-10x256"):
        with torch.random.fork_rng():
            torch.manual_seed(0)
            model = MODELS[name]()
        for _ in range(3):
            _plain(model, x, y)
            lean(model, x, y)
            initlab.diagnose(model, x, y, spectrum="off")
        plain, stand_in, real = [], [], []
        parts: collections.Counter = collections.Counter()
        for _ in range(args.repeats):
            plain.append(_time(lambda: _plain(model, x, y)))  # noqa: B023
            stand_in.append(_time(lambda: lean(model, x, y)))  # noqa: B023
            real.append(_time(lambda: initlab.diagnose(model, x, y, spectrum="off")))  # noqa: B023
            lean(model, x, y, parts)
        p, s, r = min(plain), min(stand_in), min(real)
        out["models"][name] = {
            "plain_ms": round(p * 1e3, 2), "stand_in_ms": round(s * 1e3, 2),
            "diagnose_ms": round(r * 1e3, 2), "stand_in_ratio": round(s / p, 2),
            "diagnose_ratio": round(r / p, 2),
            "stand_in_parts_ms": {k: round(v / args.repeats * 1e3, 3) for k, v in parts.items()},
        }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
