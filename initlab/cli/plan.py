"""``initlab plan``: print how a policy would initialize a model (nothing is trained).

Example::

    initlab plan --model seed-cnn --policy auto --input-shape 1,28,28
    initlab plan --model mymodels:build_net --policy fixup --json-out plan.json
    initlab plan --model hf:llama --model-arg hidden_size=256 --model-arg num_hidden_layers=2

The model comes from the lab's zoo (``initlab.lab.models.build``: a built-in name), from
another library (``hf:MODEL_TYPE`` with ``--model-arg`` config overrides, built on the meta
device so full-size configs cost no memory; ``timm:NAME``; ``torchvision:NAME``), or is
``MODULE:FACTORY`` importable from the current folder (the factory is called with the
keyword arguments it accepts among ``input_shape`` and ``num_classes``).
"""

from __future__ import annotations

import json
import os
from typing import Any

import click
import torch

from initlab.cli._model import build_model, parse_model_args, parse_shape
from initlab.cli._options import emit_json, json_options, json_target

__all__ = ["command"]


@click.command("plan")
@click.option("--model", "model_name", required=True,
              help="Built-in model name, hf:MODEL_TYPE, timm:NAME, torchvision:NAME or "
                   "MODULE:FACTORY.")
@click.option("--model-arg", "model_args", multiple=True, metavar="KEY=VALUE",
              help="Model keyword argument (for hf: a config override; JSON value), "
                   "repeatable: --model-arg hidden_size=256.")
@click.option("--policy", default="auto", show_default=True,
              help="Preset (initlab list policies), a JSON policy file, or an initializer spec.")
@click.option("--input-shape", default=None,
              help="One example's shape (no batch), e.g. 1,28,28; also used for an example "
                   "batch when torch.fx cannot trace the model.")
@click.option("--num-classes", default=10, show_default=True, type=int)
@json_options("the plan (Plan.from_dict reads it back)")
def command(model_name: str, model_args: tuple[str, ...], policy: str, input_shape: str | None,
            num_classes: int, json_flag: str | None, json_out: str | None) -> None:
    """Show the plan POLICY gives for MODEL: one row per parameter, with the reason."""
    from initlab.lab.model_sources import is_external
    from initlab.policy import Policy, plan

    to_stdout, json_path = json_target(json_flag, json_out)
    shape = parse_shape(input_shape) if input_shape is not None else None
    meta = model_name.startswith("hf:") and shape is None
    model = build_model(model_name, shape or (1, 28, 28), num_classes, meta=meta,
                        **parse_model_args(model_args))
    if is_external(model_name):
        shape = None  # their inputs are not an image batch of --input-shape
    chosen: Any = policy
    if policy.endswith(".json") and os.path.exists(policy):
        with open(policy) as f:
            chosen = Policy.from_dict(json.load(f))
    example = torch.randn(2, *shape, generator=torch.Generator().manual_seed(0)) if shape else None
    the_plan = plan(model, chosen, example_input=example)
    if not to_stdout:
        from rich.console import Console

        # the terminal's width: text columns fold, numbers never
        Console().print(the_plan.table())
    emit_json(the_plan.to_dict(), to_stdout=to_stdout, path=json_path)
