"""``initlab plan``: print how a policy would initialize a model (nothing is trained).

Example::

    initlab plan --model seed-cnn --policy auto --input-shape 1,28,28
    initlab plan --model mymodels:build_net --policy fixup --json plan.json

The model comes from the lab's zoo (``initlab.lab.models.build``: a built-in name) or is
``MODULE:FACTORY`` importable from the current folder (the factory is called with the
keyword arguments it accepts among ``input_shape`` and ``num_classes``).
"""

from __future__ import annotations

import importlib
import inspect
import json
import os
import sys

import click
import torch

from initlab.errors import ConfigError

__all__ = ["command", "load_model"]


def _shape(text: str | None) -> tuple[int, ...] | None:
    if text is None:
        return None
    try:
        shape = tuple(int(p) for p in text.replace("x", ",").split(",") if p.strip())
    except ValueError:
        shape = ()
    if not shape or min(shape) < 1:
        raise ConfigError(f"--input-shape must be positive integers separated by commas, without "
                          f"the batch; got {text!r}; expected e.g. 1,28,28 or 784")
    return shape


def _factory(spec: str):
    module_name, _, attr = spec.partition(":")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(f"Cannot import module '{module_name}' for --model {spec} ({exc}); "
                          "expected MODULE:FACTORY importable from the current folder.") from None
    fn = getattr(module, attr, None)
    if not callable(fn):
        raise ConfigError(f"'{attr}' is not a callable in module '{module_name}' (--model {spec}); "
                          "expected MODULE:FACTORY returning an nn.Module.")
    return fn


def load_model(name: str, input_shape, num_classes: int, seed: int = 0) -> torch.nn.Module:
    """A model by zoo name or ``MODULE:FACTORY``, built under a forked RNG seeded with ``seed``."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        try:
            from initlab.lab import models
        except ImportError:  # the lab is optional for this command
            models = None
        if models is not None and hasattr(models, "build"):
            if ":" in name and os.getcwd() not in sys.path:
                sys.path.insert(0, os.getcwd())
            return models.build(name, input_shape or (1, 28, 28), num_classes)
        if ":" not in name:
            raise ConfigError(f"Unknown model '{name}'; expected MODULE:FACTORY "
                              "(the model zoo initlab.lab.models is not available).")
        fn = _factory(name)
        params = inspect.signature(fn).parameters
        kwargs = {k: v for k, v in (("input_shape", input_shape), ("num_classes", num_classes))
                  if k in params and v is not None}
        model = fn(**kwargs)
    if not isinstance(model, torch.nn.Module):
        raise ConfigError(f"--model {name} returned {type(model).__name__}; expected an nn.Module.")
    return model


@click.command("plan")
@click.option("--model", "model_name", required=True,
              help="Built-in model name (initlab.lab.models) or MODULE:FACTORY.")
@click.option("--policy", default="auto", show_default=True,
              help="Preset (initlab list policies), a JSON policy file, or an initializer spec.")
@click.option("--input-shape", default=None,
              help="Input shape without the batch, e.g. 1,28,28; also used for an example "
                   "batch when torch.fx cannot trace the model.")
@click.option("--num-classes", default=10, show_default=True, type=int)
@click.option("--json", "json_path", default=None, type=click.Path(dir_okay=False),
              help="Also write the plan as JSON here (Plan.from_dict reads it back).")
def command(model_name, policy, input_shape, num_classes, json_path):
    """Show the plan POLICY gives for MODEL: one row per parameter, with the reason."""
    import initlab
    from initlab.policy import Policy

    shape = _shape(input_shape)
    model = load_model(model_name, shape, num_classes)
    if policy.endswith(".json") and os.path.exists(policy):
        with open(policy) as f:
            policy = Policy.from_dict(json.load(f))
    example = torch.randn(2, *shape, generator=torch.Generator().manual_seed(0)) if shape else None
    plan = initlab.plan(model, policy, example_input=example)
    from rich.console import Console

    Console(width=max(160, Console().width)).print(plan.table())
    if json_path:
        with open(json_path, "w") as f:
            json.dump(plan.to_dict(), f, indent=1)
        click.echo(f"wrote {json_path}", err=True)
