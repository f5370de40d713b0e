"""``initlab compare``: train one model with several inits x seeds, record, report.

Example::

    initlab compare --model seed-cnn --dataset fashion-mnist \\
        --policies "xavier_normal,kaiming_normal(mode='fan_out'),normal(std=0.01),zeros" \\
        --target conv1 --seeds 3 --epochs 5 --out runs/seed-cnn

Re-running the same command resumes (finished runs are skipped). ``--sweep lr=0.01,0.1``
(repeatable) adds axes over training settings and model arguments (``model.width=64,128``);
every grid point is its own experiment in the report, never pooled with another. The report
(``report.html``, ``report.csv``, ``report.json``) is written into ``--out`` at the end.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import click

from initlab.cli._model import parse_model_args
from initlab.cli._options import emit_json, pick
from initlab.errors import ConfigError

__all__ = ["command"]


@click.command("compare")
@click.option("--policies", default=None,
              help="Comma-separated policy names or initializer specs, e.g. "
                   "\"xavier_normal,kaiming_normal(mode='fan_out'),zeros\" (required).")
@click.option("--model", default="seed-cnn", show_default=True,
              help="Built-in model name (see initlab.lab.models) or MODULE:FACTORY.")
@click.option("--model-arg", "model_args", multiple=True, metavar="KEY=VALUE",
              help="Model keyword argument (JSON value), repeatable: --model-arg depth=20.")
@click.option("--dataset", default="fashion-mnist", show_default=True,
              help="Dataset name (`initlab data` lists them), 'synthetic', or your own: "
                   "path.npz (x_train, y_train, x_test, y_test), path.pt, an image folder "
                   "(one sub-folder per class), MODULE:FACTORY.")
@click.option("--data-dir", default=None,
              help="The folder holding the dataset (it must: no fall-back, no download).")
@click.option("--n-train", type=click.IntRange(min=1), default=None,
              help="Use only the first N training examples.")
@click.option("--n-test", type=click.IntRange(min=1), default=None,
              help="Use only the first N test examples.")
@click.option("--target", default=None, metavar="GLOB",
              help="Apply the inits only to these parameters (a module name like conv1 or a "
                   "glob); the rest keep PyTorch's default init.")
@click.option("--seeds", default="3", show_default=True,
              help="Seeds per init: a count N (0..N-1) or explicit seeds, e.g. 0,4,7.")
@click.option("--sweep", "axes", multiple=True, metavar="KEY=V1,V2",
              help="An axis over a training setting (lr, momentum, weight_decay, batch_size, "
                   "optimizer, epochs, steps) or a model argument (model.width=64,128); "
                   "repeatable: the grid is inits x axes x seeds.")
@click.option("--baseline", default=None, metavar="POLICY",
              help="Compare every init with this one (default: each group's best).")
@click.option("--epochs", type=click.IntRange(min=1), default=5, show_default=True)
@click.option("--steps", type=click.IntRange(min=1), default=None,
              help="Stop each run after this many optimizer steps.")
@click.option("--optimizer", type=click.Choice(["sgd", "adam", "adamw"]), default="sgd",
              show_default=True)
@click.option("--lr", type=float, default=0.01, show_default=True)
@click.option("--momentum", type=float, default=0.9, show_default=True)
@click.option("--weight-decay", type=float, default=0.0, show_default=True)
@click.option("--batch-size", type=click.IntRange(min=1), default=64, show_default=True)
@click.option("--target-acc", type=float, default=None,
              help="Report the steps each run needs to reach this test accuracy (0-1).")
@click.option("--grad-norm-steps", type=click.IntRange(min=0), default=20, show_default=True,
              help="Record per-layer gradient norms for the first N steps.")
@click.option("--device", default="cpu", show_default=True)
@click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True,
              help="Local worker processes (each trains one run, or one seed's runs when "
                   "stacked).")
@click.option("--stack/--no-stack", default=True, show_default=True,
              help="Train the inits of one seed together, stacked into wider models: on "
                   "CUDA all as one model, on CPU one stacked group per core, trained in "
                   "parallel (forked processes; INITLAB_GROUPS=threads: threads); "
                   "--no-stack: one after another.")
@click.option("--executor", type=click.Choice(["local", "ray"]), default="local",
              show_default=True, help="Where runs train: this machine, or a Ray cluster "
                                      "(pip install 'initlab[ray]').")
@click.option("--address", default=None, metavar="auto|ray://HOST:PORT",
              help="Ray cluster to use with --executor ray [default: $RAY_ADDRESS, else a new "
                   "local instance].")
@click.option("--cpus-per-run", type=click.FloatRange(min=0), default=1.0, show_default=True,
              help="CPUs each Ray task (a run, or a stack of runs) asks for.")
@click.option("--gpus-per-run", type=click.FloatRange(min=0), default=0.0, show_default=True,
              help="GPUs each Ray task asks for (fractions share a GPU).")
@click.option("--retries", type=click.IntRange(min=0), default=2, show_default=True,
              help="Resubmit a Ray task whose worker died this many times before recording "
                   "its runs failed.")
@click.option("--out", default=None, help="Output directory [default: runs/MODEL-DATASET].")
@click.option("--quiet", "-q", is_flag=True, help="No progress display.")
@click.option("--json", "as_json", is_flag=True,
              help="Print the report as JSON on stdout instead of the table.")
@click.option("--json-out", "json_out", default=None, type=click.Path(dir_okay=False),
              help="Also write the report as JSON to this file.")
@click.option("--inits", "old_inits", default=None, hidden=True, help="Deprecated: --policies.")
def command(policies: str | None, model: str, model_args: tuple[str, ...], dataset: str,
            data_dir: str | None, n_train: int | None, n_test: int | None, target: str | None,
            seeds: str, axes: tuple[str, ...], baseline: str | None, epochs: int,
            steps: int | None, optimizer: str, lr: float, momentum: float, weight_decay: float,
            batch_size: int, target_acc: float | None, grad_norm_steps: int, device: str,
            workers: int, stack: bool, executor: str, address: str | None,
            cpus_per_run: float, gpus_per_run: float, retries: int, out: str | None,
            quiet: bool, as_json: bool, json_out: str | None, old_inits: str | None) -> None:
    """Compare inits by training: inits x seeds, recorded in OUT/initlab.db, resumable.

    Exit status: 0 when every run finished (done or diverged), 1 when a run failed (its
    error is printed; re-running retries it), 2 on bad input.
    """
    from initlab.lab.report import report_dict, table_text, write_reports

    policies = pick(policies, old_inits, new="--policies", old="--inits")
    if policies is None:
        raise click.UsageError("Missing option '--policies'.")
    if executor == "local" and address is not None:
        raise ConfigError(f"--address {address} needs --executor ray; got --executor local")
    from initlab.lab.sweep import Sweep, run_sweep
    from initlab.lab.sweep.axes import parse_axis
    from initlab.lab.train import TrainConfig

    grid: dict[str, list[Any]] = {}
    for text in axes:
        key, values = parse_axis(text)
        if key in grid:
            raise ConfigError(f"--sweep {key} given twice; expected each key once, e.g. "
                              f"--sweep {key}=V1,V2,V3")
        grid[key] = values

    config = TrainConfig(optimizer=optimizer, lr=lr, momentum=momentum,
                         weight_decay=weight_decay, batch_size=batch_size, epochs=epochs,
                         steps=steps, target_acc=target_acc, device=device,
                         grad_norm_steps=grad_norm_steps)
    sweep = Sweep(inits=policies, model=model, dataset=dataset, seeds=seeds, train=config,
                  target=target, model_kwargs=parse_model_args(model_args),
                  data_dir=data_dir, n_train=n_train, n_test=n_test, stack=stack,
                  workers=workers, executor=executor, axes=grid,
                  executor_options=None if executor == "local" else {
                      "address": address, "cpus_per_run": cpus_per_run,
                      "gpus_per_run": gpus_per_run, "retries": retries})
    if baseline is not None and baseline not in sweep.inits:
        raise ConfigError(f"--baseline {baseline!r} is not one of --policies; expected one of "
                          f"{list(sweep.inits)}")
    out = out or f"runs/{model.replace(':', '_')}-{Path(dataset).stem}"
    from initlab.lab.progress import Progress

    progress = Progress(enabled=not quiet)
    start = time.perf_counter()
    from initlab.lab.sweep.store import DB_NAME, store_errors

    with store_errors(Path(out) / DB_NAME):
        outcome = run_sweep(sweep, out, progress=progress)
        paths = write_reports(out)
        report = report_dict(out, baseline=baseline)
    emit_json(report, to_stdout=as_json, path=json_out, indent=None)
    if not as_json:
        click.echo(table_text(report["summary"], title=f"{model} on {dataset}", width=None,
                              groups=report["groups"]), nl=False)
        click.echo(f"{outcome.done + outcome.diverged} runs trained, {outcome.skipped} resumed "
                   f"from {out}, {outcome.diverged} diverged, {outcome.failed} failed "
                   f"({time.perf_counter() - start:.1f} s). Report: {paths['html']}")
    if outcome.busy:
        click.echo(f"{outcome.busy} runs were being trained by another process; run the same "
                   "command again later to pick up any it leaves unfinished.", err=True)
    for err in outcome.errors:
        click.echo(f"failed: {err}", err=True)
    if outcome.failed:
        sys.exit(1)
