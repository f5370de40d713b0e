"""``initlab audit``: initialize a model by a policy and list where every tensor's values came from.

Example::

    initlab audit --model seed-cnn --policy auto --seed 0
    initlab audit --model mymodels:build_net --model-arg width=64 --meta --json-out audit.json

Exit 0 when every parameter and buffer was initialized exactly once, finite and near its
planned std; 1 when the audit finds problems; 2 on user errors (one line).
"""

from __future__ import annotations

import json
import os
from typing import Any

import click
import torch

from initlab.cli._model import build_model, parse_model_args, parse_shape
from initlab.cli._options import emit_json, json_options, json_target
from initlab.errors import ConfigError

__all__ = ["command"]


@click.command("audit")
@click.option("--model", "model_name", required=True,
              help="Built-in model name, hf:MODEL_TYPE, timm:NAME, torchvision:NAME or MODULE:FACTORY.")
@click.option("--model-arg", "model_args", multiple=True, metavar="KEY=VALUE",
              help="A keyword argument for the model's builder (repeatable).")
@click.option("--policy", default="auto", show_default=True,
              help="Preset, a JSON policy file, an initializer spec, or 'none' (audit the "
                   "model as built).")
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--meta", is_flag=True,
              help="Build the model on the meta device and materialize it (buffers included).")
@click.option("--input-shape", default=None,
              help="One example's shape (no batch), e.g. 1,28,28 (for models and plans that "
                   "need it).")
@click.option("--num-classes", default=10, show_default=True, type=int)
@json_options("the audit")
def command(model_name: str, model_args: tuple[str, ...], policy: str, seed: int, meta: bool,
            input_shape: str | None, num_classes: int, json_flag: str | None,
            json_out: str | None) -> int:
    """Initialize MODEL by POLICY, then list every parameter and buffer with its provenance."""
    from initlab.policy import Policy, apply, audit, materialize

    to_stdout, json_path = json_target(json_flag, json_out)
    kwargs = parse_model_args(model_args)
    shape = parse_shape(input_shape) if input_shape is not None else None
    if meta and policy == "none":
        raise ConfigError("--meta needs a policy to fill the model; got --policy none. "
                          "Hint: drop --meta to audit the model as built.")
    model = build_model(model_name, shape or (1, 28, 28), num_classes, seed, meta=meta, **kwargs)
    chosen: Any = policy
    if policy.endswith(".json") and os.path.exists(policy):
        with open(policy) as f:
            chosen = Policy.from_dict(json.load(f))
    example = torch.randn(2, *shape, generator=torch.Generator().manual_seed(0)) if shape else None
    plan = None
    if meta:
        materialize(model, chosen, seed=seed, example_input=example, audit=False)
    elif policy != "none":
        plan = apply(model, chosen, seed=seed, example_input=example)
    report = audit(model, plan)
    if not to_stdout:
        from rich.console import Console

        console = Console()  # the terminal's width: text columns fold, numbers never
        console.print(report.table())
        for problem in report.problems:
            console.print(f"problem: {problem}", markup=False, highlight=False)
    emit_json(report.to_dict(), to_stdout=to_stdout, path=json_path)
    return 0 if report.ok else 1
