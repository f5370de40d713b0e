"""Scenario ``matmul-chain``: the 100-layer matrix-product explosion/vanishing demo."""

from __future__ import annotations

from initlab.diagnosis.matmul_chain import chain_checks
from initlab.lab.scenarios import Check, Context, Result, scenario


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
    seeds = ctx.seeds or 20  # cheap: the fast variant runs all 20 seeds too
    checks = [Check(claim, measured, passed)
              for claim, measured, passed in chain_checks(seeds)]
    return Result("matmul-chain", checks, {"seeds": seeds, "depth": 100, "width": 512})
