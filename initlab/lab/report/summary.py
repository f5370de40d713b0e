"""The numbers of a sweep's report: runs, summary rows per experiment and init, comparisons.

Definitions: a run's figures are those of its last evaluation (``final``). Runs are first
split into groups, one per experiment (:mod:`initlab.lab.grouping`: every config field but
init and seed); a folder holding two experiments gives two sets of rows, never one pooled.
A summary row is one init in one group: ``n`` seeds in the headline (done + diverged; a
diverged seed scores test accuracy 0, a failure, never dropped), ``test_acc_mean``,
``test_acc_std``, ``test_acc_ci95`` ([lo, hi], Student t, clipped to [0, 1]) over them;
``seeds`` counts the ``done`` runs, over which ``train_loss_*`` are computed; ``diverged``,
``failed`` and ``pending`` count the others. ``steps_to_target_mean`` averages the runs
that reached the target (``reached`` of them). ``comparisons``: each init against its
group's best by a paired t-test over seeds, Holm-corrected (:mod:`initlab.lab.stats`).
"""

from __future__ import annotations

from pathlib import Path

from initlab.lab.grouping import compare_group, group_runs, score, verdict_line
from initlab.lab.stats import describe
from initlab.lab.sweep.store import Store, open_store

__all__ = ["collect", "summarize", "compare_rows", "report_dict", "SUMMARY_FIELDS"]

SUMMARY_FIELDS = ("group", "init", "init_spec", "n", "seeds", "test_acc_mean", "test_acc_std",
                  "test_acc_ci95", "train_loss_mean", "train_loss_std", "steps_to_target_mean",
                  "reached", "diverged", "failed", "pending", "wall_time_mean", "config")


def _mean_std(values: list[float]) -> tuple[float | None, float | None]:
    d = describe(values)
    return d.mean, d.std


def collect(store: Store, *, curves: bool = True) -> list[dict]:
    """Every run with its metrics: the rows of ``runs`` plus epochs, losses, grad norms."""
    runs = []
    for r in store.runs():
        epochs = store.epochs(r["id"])
        run = {"id": r["id"], "init": r["init_label"], "init_spec": r["init_spec"],
               "seed": r["seed"], "status": r["status"], "error": r["error"],
               "steps": r["steps"], "steps_to_target": r["steps_to_target"],
               "diverged_at": r["diverged_at"], "wall_time": r["wall_time"],
               "stacked": r["stacked"], "attempts": r["attempts"],
               "final": epochs[-1] if epochs else {}, "epochs": epochs,
               "config": r["identity"], "environment": r["environment"], "plan": r["plan"]}
        if curves:
            run["step_losses"] = store.step_losses(r["id"])
            run["grad_norms"] = store.grad_norms(r["id"])
        runs.append(run)
    return runs


def summarize(runs: list[dict]) -> list[dict]:
    """One summary row per group and init, in sweep order (see the module docstring)."""
    rows = []
    for g in group_runs(runs):
        by_init: dict[str, list[dict]] = {}
        for r in g.runs:
            by_init.setdefault(r["init"], []).append(r)
        for init, rs in by_init.items():
            done = [r for r in rs if r["status"] == "done"]
            acc = describe([score(r) for r in rs], clip=(0.0, 1.0))
            loss = _mean_std([r["final"].get("train_loss") for r in done])
            reached = [r["steps_to_target"] for r in done if r["steps_to_target"] is not None]
            rows.append({
                "group": g.label, "init": init, "init_spec": rs[0]["init_spec"],
                "n": acc.n, "seeds": len(done),
                "test_acc_mean": acc.mean, "test_acc_std": acc.std,
                "test_acc_ci95": list(acc.ci95) if acc.ci95 else None,
                "train_loss_mean": loss[0], "train_loss_std": loss[1],
                "steps_to_target_mean": _mean_std(reached)[0], "reached": len(reached),
                "diverged": sum(r["status"] == "diverged" for r in rs),
                "failed": sum(r["status"] == "failed" for r in rs),
                "pending": sum(r["status"] in ("pending", "running") for r in rs),
                "wall_time_mean": _mean_std([r["wall_time"] for r in done])[0],
                "config": g.config,
            })
    return rows


def compare_rows(runs: list[dict], summary: list[dict] | None = None,
                 baseline: str | None = None) -> tuple[list[dict], list[dict]]:
    """Paired comparisons and one verdict per group.

    Args:
        runs: the runs (:func:`collect`).
        summary: their :func:`summarize` rows (computed when not given).
        baseline: compare every init with this one instead of each group's best.

    Returns:
        ``(comparisons, groups)``: comparison rows ``{group, init, baseline, delta, ci95,
        p_value, p_raw, n, significant}`` and ``{group, config, verdict}`` per group.
    """
    summary = summarize(runs) if summary is None else summary
    comparisons, groups = [], []
    for g in group_runs(runs):
        means = {s["init"]: s["test_acc_mean"] for s in summary if s["group"] == g.label}
        if baseline is not None and baseline not in means:
            from initlab.errors import ConfigError

            raise ConfigError(f"--baseline {baseline!r} is not an init of this sweep; "
                              f"expected one of {list(means)}")
        rows = compare_group(g, means, baseline)
        comparisons += rows
        groups.append({"group": g.label, "config": g.config,
                       "verdict": verdict_line(rows, means)})
    return comparisons, groups


def report_dict(out: str | Path, baseline: str | None = None) -> dict:
    """``{"summary", "comparisons", "groups", "runs"}`` of the sweep in ``out`` (JSON)."""
    with open_store(out, create=False) as store:
        runs = collect(store, curves=False)
    for r in runs:
        r.pop("plan", None)
    summary = summarize(runs)
    comparisons, groups = compare_rows(runs, summary, baseline)
    return {"summary": summary, "comparisons": comparisons, "groups": groups, "runs": runs}
