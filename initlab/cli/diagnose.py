"""``initlab diagnose``: is this model healthy at init? Exit 0 healthy, 1 a verdict, 2 bad input.

Example::

    initlab diagnose --model mlp --model-arg depth=20 --input-shape 784 --batch-size 64
    initlab diagnose --model seed-cnn --policy kaiming --dataset fashion-mnist --json

The model comes from the lab's zoo (``initlab.lab.models.build``: a built-in name, or
``MODULE:FACTORY`` importable from the current folder), is constructed under a forked RNG
seeded with ``--seed`` (so PyTorch's default init is reproducible), optionally initialized
with ``--policy``, and diagnosed on one batch of ``--batch-size`` examples: ``--dataset``
(real images and labels, cross-entropy loss) or N(0, 1) inputs of ``--input-shape`` (one
example's shape, as in every command; sum-of-squares probe loss).
"""

from __future__ import annotations

from typing import Any

import click
import torch

from initlab.cli._model import build_model, parse_model_args, parse_shape
from initlab.cli._options import json_options, json_target, pick, warn_deprecated
from initlab.errors import ConfigError

__all__ = ["command"]

DEFAULT_INPUT_SHAPE = (1, 28, 28)  # a Fashion-MNIST image
BATCH = 64


def _batch(dataset: str | None, data_dir: str | None, input_shape: str | None,
           batch_size: int, seed: int
           ) -> tuple[torch.Tensor, torch.Tensor | None, tuple[int, ...], int | None]:
    """(x, y, one example's shape, num_classes or None) for the options given."""
    if dataset and input_shape:
        raise ConfigError(f"Give --dataset or --input-shape, not both; got --dataset {dataset} "
                          f"and --input-shape {input_shape}. Hint: drop one")
    g = torch.Generator().manual_seed(seed)
    if dataset:
        from initlab.lab import data as lab_data

        ds = lab_data.load(dataset, data_dir)
        idx = torch.randperm(len(ds.train_x), generator=g)[:batch_size]
        return ds.train_x[idx], ds.train_y[idx], tuple(ds.input_shape), ds.num_classes
    shape = parse_shape(input_shape) if input_shape else DEFAULT_INPUT_SHAPE
    return torch.randn((batch_size, *shape), generator=g), None, shape, None


def _model_kwargs(model_args: tuple[str, ...], depth: int | None, width: int | None,
                  activation: str | None) -> dict[str, Any]:
    """``--model-arg`` pairs, plus the deprecated ``--depth``/``--width``/``--activation``."""
    kwargs = parse_model_args(model_args)
    for key, value in (("depth", depth), ("width", width), ("activation", activation)):
        if value is None:
            continue
        warn_deprecated(f"--{key}", f"--model-arg {key}={value}")
        if key in kwargs:
            raise ConfigError(f"Give --model-arg {key}=... or --{key}, not both; got "
                              f"--model-arg {key}={kwargs[key]} and --{key} {value}")
        kwargs[key] = value
    return kwargs


@click.command("diagnose")
@click.option("--model", "model_name", required=True,
              help="Built-in model name (initlab.lab.models) or MODULE:FACTORY.")
@click.option("--model-arg", "model_args", multiple=True, metavar="KEY=VALUE",
              help="Model keyword argument (JSON value), repeatable: --model-arg depth=20.")
@click.option("--policy", default=None,
              help="Policy or initializer spec applied first (auto, kaiming, "
                   "\"orthogonal(gain=1.0)\", ...); default: the model as built.")
@click.option("--input-shape", default=None,
              help=f"One example's shape (no batch) of N(0,1) inputs, e.g. 1,28,28 or 784 "
                   f"(default {','.join(map(str, DEFAULT_INPUT_SHAPE))}).")
@click.option("--batch-size", default=BATCH, show_default=True, type=click.IntRange(min=1),
              help="Examples in the diagnosed batch.")
@click.option("--dataset", default=None, help="Diagnose on a batch from this dataset.")
@click.option("--data-dir", default=None, type=click.Path(file_okay=False),
              help="Where the dataset lives (see `initlab data`).")
@click.option("--num-classes", default=10, show_default=True, type=int,
              help="Classes of the built model (ignored with --dataset).")
@click.option("--seed", default=0, show_default=True, type=int,
              help="Seed of the model's construction, the init and the batch.")
@click.option("--spectrum", default="auto", show_default=True,
              type=click.Choice(["auto", "exact", "lanczos", "off"]),
              help="Jacobian spectrum: exact on small models with auto.")
@click.option("--device", default="cpu", show_default=True,
              help="Run the model and batch here (cpu, cuda, cuda:1, ...).")
@click.option("--html", "html_path", default=None, type=click.Path(dir_okay=False),
              help="Write a self-contained HTML report here.")
@json_options("the report")
@click.option("--csv", "csv_path", default=None, type=click.Path(dir_okay=False),
              help="Write the statistics in long format (layer,depth,stat,value) here.")
@click.option("--init", "old_init", default=None, hidden=True,
              help="Deprecated: --policy.")
@click.option("--depth", default=None, type=int, hidden=True,
              help="Deprecated: --model-arg depth=N.")
@click.option("--width", default=None, type=int, hidden=True,
              help="Deprecated: --model-arg width=N.")
@click.option("--activation", default=None, hidden=True,
              help="Deprecated: --model-arg activation=NAME.")
def command(model_name: str, model_args: tuple[str, ...], policy: str | None,
            input_shape: str | None, batch_size: int, dataset: str | None,
            data_dir: str | None, num_classes: int, seed: int, spectrum: str, device: str,
            html_path: str | None, json_flag: str | None, json_out: str | None,
            csv_path: str | None, old_init: str | None, depth: int | None, width: int | None,
            activation: str | None) -> None:
    """Diagnose a model at init; exit 0 when healthy, 1 when a verdict fires."""
    from initlab._core.checks import check_device
    from initlab.diagnosis import diagnose

    policy = pick(policy, old_init, new="--policy", old="--init")
    to_stdout, json_path = json_target(json_flag, json_out)
    kwargs = _model_kwargs(model_args, depth, width, activation)
    dev = check_device(device)
    x, y, shape, classes = _batch(dataset, data_dir, input_shape, batch_size, seed)
    model = build_model(model_name, shape, classes or num_classes, seed, **kwargs).to(dev)
    x, y = x.to(dev), (y.to(dev) if y is not None else None)
    report = diagnose(model, x, y, init=policy, seed=seed, spectrum=spectrum)
    report.meta["model"] = model_name
    if to_stdout:
        click.echo(report.to_json())
    else:
        from rich.console import Console

        Console().print(report)
    for path, write in ((html_path, report.to_html), (json_path, report.to_json),
                        (csv_path, report.to_csv)):
        if path:
            write(path)
            click.echo(f"wrote {path}", err=to_stdout)
    if not report.healthy:
        raise click.exceptions.Exit(1)
