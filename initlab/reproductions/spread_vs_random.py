"""Scenario ``spread-vs-random``: does a low-coherence ("spread") first layer change training?

The open question: why random filters rather than filters spread as evenly as possible?
``seed-cnn`` (Conv(1,16,3x3)-ReLU-MaxPool-Linear) on Fashion-MNIST, ``conv1`` initialized
with Kaiming normal (fan_in, ReLU) or ``spread(gain=sqrt(2))`` (16 unit vectors in R^9 with
low coherence, rows scaled to the same std sqrt(2/9)); the Linear layer keeps PyTorch's
default; SGD lr 0.01, momentum 0.9, batch 64, 3 epochs (fast: 1), 5 seeds (fast: 3) (common random
numbers: both inits of a seed see the same batches). Reported: the coherence of the two
first layers against the Welch bound, and the difference of the final test accuracies with
its paired t-test. The check asks that spread trains at least as well as random
(non-inferiority: the 95% CI of the paired difference above -``MARGIN``); the two-sided
test's answer (better, worse or no significant difference) is in the measured string and
the details.
"""

from __future__ import annotations

import math

import torch

from initlab.init.spread import coherence, welch_bound
from initlab.lab.models import build
from initlab.policy.apply import apply
from initlab.reproductions._base import Context, Result, scenario
from initlab.reproductions._claims import at_least, beats, every_seed
from initlab.reproductions._practice import Measured, Setting, details, run_setting
from initlab.reproductions._repro import fmt, mean, save

SPREAD = f"spread(gain={math.sqrt(2)!r})"
KAIMING = "kaiming_normal(nonlinearity='relu')"
SETTING = Setting(
    model="seed-cnn", inits={"kaiming_normal": KAIMING, "spread": SPREAD}, target="conv1",
    lr=0.01, momentum=0.9, batch_size=64, epochs=3, fast_epochs=1, seeds=5, fast_seeds=3,
)
MARGIN = 0.01  # "at least as well": no more than 1 accuracy point behind


def conv1_coherence(init: str, seeds: int) -> list[float]:
    """Coherence / Welch bound of seed-cnn's conv1 (16 x 9) under ``init``, per seed."""
    out: list[float] = []
    for seed in range(seeds):
        model = build("seed-cnn", (1, 28, 28), 10)
        apply(model, init, seed=seed, only="conv1.weight")
        w = model.get_parameter("conv1.weight")
        out.append(coherence(w) / welch_bound(w.shape[0], w[0].numel()))
    return out


def final_acc(m: Measured, label: str) -> dict[int, float]:
    """``{seed: final test accuracy}`` of init ``label`` (finished runs only)."""
    return {r["seed"]: r["epochs"][-1]["test_acc"] for r in m.runs
            if r["init"] == label and r["status"] == "done" and r["epochs"]}


@scenario(
    "spread-vs-random",
    summary="seed-cnn's conv1 as a low-coherence frame (spread) vs Kaiming normal, several "
            "seeds: does it change training?",
    source="open question (low-coherence frames, Welch 1974); this project's spread_ init",
    full_runtime="~6 min on 2 CPU cores (2 inits x 5 seeds x 3 epochs of seed-cnn)",
)
def run(ctx: Context) -> Result:
    with torch.random.fork_rng():
        m = run_setting(ctx, "spread-vs-random", SETTING)
    seeds = ctx.seeds or (SETTING.fast_seeds if ctx.fast else SETTING.seeds)
    coh = {"kaiming_normal": conv1_coherence(KAIMING, seeds),
           "spread": conv1_coherence(SPREAD, seeds)}
    acc = {k: final_acc(m, k) for k in SETTING.inits}
    common = sorted(set(acc["spread"]) & set(acc["kaiming_normal"]))
    diff = {s: acc["spread"][s] - acc["kaiming_normal"][s] for s in common}
    loss1 = {k: m.epoch_loss(k, 1) for k in SETTING.inits}
    epochs = SETTING.fast_epochs if ctx.fast else SETTING.epochs
    better = beats("spread vs random: a difference in final test accuracy", "spread",
                   "kaiming_normal", acc["spread"], acc["kaiming_normal"])
    verdict = {"PASS": "spread better", "FAIL": "spread worse"}.get(
        str(better.status), "no significant difference")
    checks = [
        every_seed("spread's conv1 (16 filters in R^9) has lower coherence than random filters",
                   {s: (coh["spread"][s], coh["kaiming_normal"][s]) for s in range(seeds)},
                   lambda c: c[0] < c[1], record=list,
                   summary=f"coherence / Welch bound: spread {fmt(mean(coh['spread']))}, "
                   f"Kaiming normal {fmt(mean(coh['kaiming_normal']))} (mean over {seeds} "
                   "seeds)"),
        # non-inferiority: the 95% CI of the paired difference lies above -MARGIN
        at_least(f"spread trains at least as well as random init (paired difference of final "
                 f"test accuracy >= -{100 * MARGIN:g} points)",
                 f"spread - Kaiming, paired by seed ({len(common)} seeds, {epochs} epoch(s); "
                 f"{verdict}: {better.measured}; epoch-1 train loss spread "
                 f"{fmt(loss1['spread'], 4)} vs Kaiming {fmt(loss1['kaiming_normal'], 4)})",
                 diff, -MARGIN, clip=None),
    ]
    info = details(m, SETTING, ctx.fast)
    info.update({"coherence_over_welch": coh, "paired_difference": list(diff.values()),
                 "verdict": verdict, "difference_test": better.to_dict()})
    result = Result("spread-vs-random", checks, info)
    save(ctx, result)
    return result
