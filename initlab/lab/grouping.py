"""Never pool different experiments: runs grouped by their config, inits compared within.

Two runs belong to one *group* when their identities agree on every field but the init and
the seed (model and its arguments, dataset and its data, subset sizes, target, every
training setting). A group's ``config`` is the fields that differ between groups, flattened
to dotted keys (``train.lr``, ``model_kwargs.width``); its ``label`` is that config as
``key=value`` pairs ("" when the folder holds one experiment).

Within a group each init is scored per seed by its final test accuracy; a diverged run
scores :data:`DIVERGED_ACC` (a failure counted in the headline, never dropped); failed and
unfinished runs have no score. Every init is compared with the group's best (or a given
baseline) by a paired t-test over the seeds both scored, Holm-corrected per group.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from initlab.lab.stats import ALPHA, holm, paired_test

__all__ = ["DIVERGED_ACC", "Group", "flatten", "group_runs", "score", "compare_group",
           "verdict_line"]

DIVERGED_ACC = 0.0
_NOT_CONFIG = ("init", "seed")


def flatten(d: dict, prefix: str = "") -> dict:
    """``{"train": {"lr": 0.1}}`` -> ``{"train.lr": 0.1}`` (lists and scalars are leaves)."""
    out = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict) and v:
            out.update(flatten(v, key + "."))
        else:
            out[key] = v
    return out


def _short(key: str) -> str:
    """A config key as ``--sweep`` spells it: ``train.lr`` -> ``lr``, ``model_kwargs.w`` ->
    ``model.w``."""
    if key.startswith("model_kwargs."):
        return "model." + key[len("model_kwargs."):]
    return key.removeprefix("train.")


def _value(v: object) -> str:
    return v if isinstance(v, str) else json.dumps(v)


@dataclass
class Group:
    """One experiment: its distinguishing config, label and runs (in sweep order)."""

    label: str
    config: dict
    runs: list[dict]

    @property
    def inits(self) -> list[str]:
        return list(dict.fromkeys(r["init"] for r in self.runs))


def group_runs(runs: list[dict]) -> list[Group]:
    """Split ``runs`` (from :func:`initlab.lab.report.collect`) into groups, in sweep order.

    Args:
        runs: run dicts with a ``config`` (the run's identity).

    Returns:
        One :class:`Group` per distinct config; a single group has label "" and config {}.
    """
    keyed: dict[str, tuple[dict, list[dict]]] = {}
    for r in runs:
        flat = {k: v for k, v in flatten(r.get("config") or {}).items()
                if k.split(".")[0] not in _NOT_CONFIG}
        key = json.dumps(flat, sort_keys=True, default=str)
        keyed.setdefault(key, (flat, []))[1].append(r)
    flats = [f for f, _ in keyed.values()]
    keys = sorted({k for f in flats for k in f})
    varying = [k for k in keys if len({json.dumps(f.get(k), sort_keys=True, default=str)
                                       for f in flats}) > 1]
    groups = []
    for flat, rs in keyed.values():
        config = {k: flat.get(k) for k in varying}
        label = " ".join(f"{_short(k)}={_value(v)}" for k, v in config.items())
        groups.append(Group(label, config, rs))
    return groups


def score(run: dict) -> float | None:
    """A run's test accuracy for the headline: final if done, DIVERGED_ACC if diverged."""
    if run["status"] == "diverged":
        return DIVERGED_ACC
    if run["status"] == "done":
        return (run.get("final") or {}).get("test_acc")
    return None


def _per_seed(group: Group) -> dict[str, dict[int, float]]:
    table: dict[str, dict[int, float]] = {}
    for r in group.runs:
        s = score(r)
        if s is not None:
            table.setdefault(r["init"], {})[r["seed"]] = s
    return table


def compare_group(group: Group, means: dict[str, float | None],
                  baseline: str | None = None) -> list[dict]:
    """Paired comparisons of every init of ``group`` with its best (or ``baseline``).

    Args:
        group: the runs of one experiment.
        means: mean headline score per init of this group (None when it has none).
        baseline: an init label to compare against instead of the best.

    Returns:
        ``[{group, init, baseline, delta, ci95, p_value, p_raw, n, significant}]``:
        ``delta`` = init - baseline (test accuracy), ``p_value`` Holm-adjusted.
    """
    scored = {k: v for k, v in means.items() if v is not None}
    if baseline is None:
        if not scored:
            return []
        baseline = max(scored, key=lambda k: scored[k])
    per_seed = _per_seed(group)
    base = per_seed.get(baseline, {})
    rows: list[dict[str, Any]] = []
    for init in group.inits:
        if init == baseline:
            continue
        mine = per_seed.get(init, {})
        seeds = sorted(set(mine) & set(base))
        t = paired_test([mine[s] for s in seeds], [base[s] for s in seeds])
        rows.append({"group": group.label, "init": init, "baseline": baseline,
                     "delta": t.delta, "ci95": list(t.ci95) if t.ci95 else None,
                     "p_raw": t.p_value, "n": t.n})
    for row, p in zip(rows, holm([r["p_raw"] for r in rows])):
        row["p_value"] = p
        row["significant"] = p is not None and p < ALPHA
    return rows


def verdict_line(comparisons: list[dict], means: dict[str, float | None]) -> str:
    """"best: X, ahead of Y by Δ ± CI (p = ...)" or "no significant difference ..."."""
    if not comparisons:
        return "one init only: nothing to compare" if means else "no finished runs"
    baseline = comparisons[0]["baseline"]
    close = [c for c in comparisons if c["delta"] is not None]
    if not close:
        return f"{baseline}: no seeds shared with the other inits to compare"
    near = max(close, key=lambda c: c["delta"])
    lead, other = (baseline, near["init"]) if near["delta"] <= 0 else (near["init"], baseline)
    pts = 100.0 * abs(near["delta"])
    if near["ci95"] is None:
        return (f"best: {lead}, ahead of {other} by {pts:.2f} points on {near['n']} "
                "seed(s): too few seeds for a test (use >= 3)")
    half = 100.0 * (near["ci95"][1] - near["ci95"][0]) / 2.0
    p = f"p = {near['p_value']:.3g}, Holm, n = {near['n']}"
    if near["significant"]:
        return f"best: {lead}, ahead of {other} by {pts:.2f} ± {half:.2f} points ({p})"
    return (f"no significant difference between {lead} and {other} "
            f"(Δ = {pts:.2f} ± {half:.2f} points, {p})")
