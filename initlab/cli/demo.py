"""``initlab demo`` (what ``make demo`` runs): the seed-cnn experiment on Fashion-MNIST.

Trains the one-conv CNN on Fashion-MNIST with conv1 initialized four ways (Xavier,
Kaiming fan_out, N(0, 0.01), zeros; 5 epochs, 1 seed, stacked training), prints which
folklore claims held, and where the HTML report is. The command installs nothing: when
Fashion-MNIST is missing it says, in one line, how to get it and exits 2 (``make demo``
installs Debian's ``dataset-fashion-mnist`` first when it runs as root with apt).
"""

from __future__ import annotations

import os
from pathlib import Path

import click

from initlab.errors import DataError

__all__ = ["command", "require_fashion_mnist", "APT_PACKAGE"]

APT_PACKAGE = "dataset-fashion-mnist"


def require_fashion_mnist(data_dir: str | None = None) -> None:
    """Raise a one-line :class:`~initlab.errors.DataError` saying how to get Fashion-MNIST
    when it is not found (in ``data_dir``, or initlab's usual places when None)."""
    from initlab.lab.data import locate

    if locate("fashion-mnist", data_dir) is not None:
        return
    where = f" in --data-dir {data_dir}" if data_dir is not None else ""
    raise DataError(f"Fashion-MNIST not found{where}; get it with `apt-get install -y "
                    f"{APT_PACKAGE}` (Debian/Ubuntu, as root; `make demo` does this), or "
                    "`initlab data fashion-mnist --download`, or point --data-dir at a folder "
                    "holding its four IDX files")


@click.command("demo")
@click.option("--out", default="runs/demo-seed-cnn", show_default=True,
              help="Where to write the runs and report.html (re-running resumes).")
@click.option("--fast", is_flag=True, help="The fast variant (seconds).")
@click.option("--data-dir", default=None, type=click.Path(file_okay=False),
              help="The folder holding Fashion-MNIST (default: initlab's usual places).")
@click.option("--device", default="cpu", show_default=True)
def command(out: str, fast: bool, data_dir: str | None, device: str) -> None:
    """Run the seed-cnn demo: conv1 initialized four ways, trained on Fashion-MNIST."""
    import initlab.reproductions as reproductions
    from initlab.cli.reproduce import print_result

    require_fashion_mnist(data_dir)
    ctx = reproductions.Context(fast=fast, out=Path(out), data_dir=data_dir, device=device,
                                progress=True)
    click.echo("initlab demo: seed-cnn on Fashion-MNIST, conv1 initialized four ways "
               f"({'fast variant' if fast else '5 epochs x 4 inits x 1 seed'}) ...")
    scenario = reproductions.get("seed-cnn")
    result = scenario.run(ctx)
    print_result(scenario, result, fast)
    click.echo(f"\nReport: {os.path.abspath(result.details['report'])}")
    click.echo(f"Table again: initlab report {out}")
