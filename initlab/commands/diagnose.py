"""``initlab diagnose``: is this model healthy at init? Exit 0 healthy, 1 a verdict, 2 bad input.

The model comes from the lab's zoo (``initlab.lab.models.build``: a built-in name, or
``MODULE:FACTORY`` importable from the current folder), is constructed under a forked RNG
seeded with ``--seed`` (so PyTorch's default init is reproducible), optionally initialized
with ``--init``, and diagnosed on one batch of 64: ``--dataset`` (real images and labels,
cross-entropy loss) or ``--input-shape`` (N(0, 1) inputs, sum-of-squares probe loss).
"""

from __future__ import annotations

import click
import torch

from initlab.commands._model import build_model, parse_shape
from initlab.errors import ConfigError

DEFAULT_INPUT_SHAPE = (64, 1, 28, 28)  # a Fashion-MNIST-sized batch
BATCH = 64


def _batch(dataset, data_dir, input_shape, seed):
    """(x, y, input shape without batch, num_classes or None) for the options given."""
    if dataset and input_shape:
        raise ConfigError(f"Give --dataset or --input-shape, not both; got --dataset {dataset} "
                          f"and --input-shape {input_shape}. Hint: drop one")
    g = torch.Generator().manual_seed(seed)
    if dataset:
        from initlab.lab import data as lab_data

        ds = lab_data.load(dataset, data_dir)
        idx = torch.randperm(len(ds.train_x), generator=g)[:BATCH]
        return ds.train_x[idx], ds.train_y[idx], tuple(ds.input_shape), ds.num_classes
    shape = parse_shape(input_shape, batch=True) if input_shape else DEFAULT_INPUT_SHAPE
    return torch.randn(shape, generator=g), None, shape[1:], None


@click.command("diagnose")
@click.option("--model", "model_name", required=True,
              help="Built-in model name (initlab.lab.models) or MODULE:FACTORY.")
@click.option("--init", default=None,
              help="Policy or initializer spec applied first (auto, kaiming, "
                   "\"orthogonal(gain=1.0)\", ...); default: the model as built.")
@click.option("--input-shape", default=None,
              help=f"Batch shape of N(0,1) inputs, e.g. 64,1,28,28 (default "
                   f"{','.join(map(str, DEFAULT_INPUT_SHAPE))}).")
@click.option("--dataset", default=None, help="Diagnose on a batch of 64 from this dataset.")
@click.option("--data-dir", default=None, type=click.Path(file_okay=False),
              help="Where the dataset lives (see `initlab data`).")
@click.option("--num-classes", default=10, show_default=True, type=int,
              help="Classes of the built model (ignored with --dataset).")
@click.option("--depth", default=None, type=int, help="Depth, for models that take one.")
@click.option("--width", default=None, type=int, help="Width, for models that take one.")
@click.option("--activation", default=None, help="Activation, for models that take one.")
@click.option("--seed", default=0, show_default=True, type=int,
              help="Seed of the model's construction, the init and the batch.")
@click.option("--spectrum", default="auto", show_default=True,
              type=click.Choice(["auto", "exact", "lanczos", "off"]),
              help="Jacobian spectrum: exact on small models with auto.")
@click.option("--device", default="cpu", show_default=True,
              help="Run the model and batch here (cpu, cuda, cuda:1, ...).")
@click.option("--html", "html_path", default=None, type=click.Path(dir_okay=False),
              help="Write a self-contained HTML report here.")
@click.option("--json", "json_path", default=None, type=click.Path(dir_okay=False),
              help="Write the report as JSON here.")
@click.option("--csv", "csv_path", default=None, type=click.Path(dir_okay=False),
              help="Write the statistics in long format (layer,depth,stat,value) here.")
def command(model_name, init, input_shape, dataset, data_dir, num_classes, depth, width,
            activation, seed, spectrum, device, html_path, json_path, csv_path):
    """Diagnose a model at init; exit 0 when healthy, 1 when a verdict fires."""
    from rich.console import Console

    from initlab.diagnosis import diagnose
    from initlab.policy.materialize import check_device

    dev = check_device(device)
    x, y, shape, classes = _batch(dataset, data_dir, input_shape, seed)
    extra = {k: v for k, v in (("depth", depth), ("width", width), ("activation", activation))
             if v is not None}
    model = build_model(model_name, shape, classes or num_classes, seed, **extra).to(dev)
    x, y = x.to(dev), (y.to(dev) if y is not None else None)
    report = diagnose(model, x, y, init=init, seed=seed, spectrum=spectrum)
    report.meta["model"] = model_name
    Console().print(report)
    for path, write in ((html_path, report.to_html), (json_path, report.to_json),
                        (csv_path, report.to_csv)):
        if path:
            write(path)
            click.echo(f"wrote {path}")
    if not report.healthy:
        raise click.exceptions.Exit(1)
