"""``initlab coord-check``: train a toy model a few steps at several widths and judge whether
activation and update scales stay put (see ``initlab.coord_check``).

Example::

    initlab coord-check --model transformer --widths 32,64,128,256 --parametrization mup
    initlab coord-check --model mlp --widths 64,128,256,512 --parametrization sp --plot cc.png
    initlab coord-check --model mlp --widths 32,64,128 --json

Exit 0 when healthy, 1 when any slope is out of tolerance (each problem is printed), 2 on
user errors (one line).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import cast

import click
import torch
from torch import nn

from initlab.cli._options import emit_json, json_options, json_target
from initlab.errors import ConfigError, UnknownNameError, did_you_mean

__all__ = ["command"]


def _batch(model: str, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    if model == "transformer":
        ids = torch.randint(0, 64, (4, 16), generator=g)
        return ids, ids
    return torch.randn(32, 32, generator=g), torch.randint(0, 10, (32,), generator=g)


def _widths(text: str) -> list[int]:
    try:
        return [int(w) for w in text.split(",") if w.strip()]
    except ValueError:
        raise ConfigError(f"--widths must be comma-separated integers; got {text!r}. "
                          "Hint: --widths 64,128,256,512.") from None


@click.command("coord-check")
@click.option("--model", "model_name", default="mlp", show_default=True,
              help="A width-parametrized toy model: mlp or transformer.")
@click.option("--widths", default="32,64,128,256", show_default=True,
              help="Comma-separated widths, increasing.")
@click.option("--parametrization", default="mup", show_default=True,
              help="mup, sp, or any policy (init only, one learning rate).")
@click.option("--optimizer", default="adam", show_default=True, help="adam, adamw or sgd.")
@click.option("--lr", default=1e-2, show_default=True, type=float)
@click.option("--weight-decay", default=0.0, show_default=True, type=float)
@click.option("--steps", default=3, show_default=True, type=int)
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--plot", "plot_path", default=None, type=click.Path(dir_okay=False),
              help="Write the activation-vs-width plot here (PNG).")
@json_options("the records and verdict")
def command(model_name: str, widths: str, parametrization: str, optimizer: str, lr: float,
            weight_decay: float, steps: int, seed: int, plot_path: str | None,
            json_flag: str | None, json_out: str | None) -> None:
    """Coordinate check: activation RMS and update size against width, t = 0..steps."""
    from initlab.scaling.coord_check import coord_check
    from initlab.scaling.models import BUILDERS

    to_stdout, json_path = json_target(json_flag, json_out)
    if model_name not in BUILDERS:
        hint = did_you_mean(model_name, BUILDERS)
        raise UnknownNameError(f"Unknown coord-check model '{model_name}'.{hint} Available: "
                               f"{sorted(BUILDERS)}.")
    builder = cast(Callable[[int], nn.Module], BUILDERS[model_name])
    cc = coord_check(builder, _widths(widths), _batch(model_name, seed),
                     parametrization=parametrization, optimizer=optimizer, lr=lr, steps=steps,
                     seed=seed, weight_decay=weight_decay)
    if plot_path:
        cc.plot(plot_path)
    emit_json(cc.to_dict(), to_stdout=to_stdout, path=json_path, indent=None)
    if to_stdout:
        raise SystemExit(0 if cc.healthy else 1)
    click.echo(f"coord-check {model_name} widths {cc.widths}, {cc.parametrization}, "
               f"{optimizer} lr {lr:g}, {steps} steps")
    click.echo(f"output slope: t=0 {cc.slope(step=0):+.2f}, t={steps} {cc.slope():+.2f} "
               f"(update {cc.slope(stat='delta'):+.2f})")
    for line in cc.problems:
        click.echo(f"  {line}")
    click.echo("healthy" if cc.healthy else f"UNHEALTHY: {len(cc.problems)} problem(s)")
    raise SystemExit(0 if cc.healthy else 1)
